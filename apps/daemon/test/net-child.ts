// Child of the cluster network test: builds a cluster network with the sfld's code in the network namespace
// it runs in, says "ready", and waits to be killed (-9), as an sfld with VMs would be.
import { netCommands } from '../src/local/net/ip-commands.ts';
import { ClusterNetworks } from '../src/local/net/cluster-network.ts';
import { quietLog } from './in-process.ts';

const nets = new ClusterNetworks(netCommands(), quietLog(), { outsideInterface: 'lo' });
await nets.start();
const spec = {
  network: '10.128.3.0',
  prefixLength: 24,
  gateway: '10.128.3.254',
  vxlanPort: 4789,
  local: '127.0.0.1',
  hosts: ['127.0.0.1', '127.0.0.2'],
  router: { whitelist: ['198.18.0.0/15'], bandwidthCapMbit: 5, inboundPorts: [80] },
};
for (const vmid of [0, 1]) {
  const ip = `10.128.3.${vmid + 1}`;
  await nets.attach(3, vmid, { ip, mac: `02:00:00:03:00:0${vmid}`, prefixLength: 24, gateway: spec.gateway, dns: [] }, spec);
}
console.log('ready');
setInterval(() => {}, 1000);
