// The cluster network on real kernel parts (DESIGN §4.6): bridges, VXLAN, nftables and tc built by sfld's
// network manager in namespaces standing in for hosts, veth pairs in place of the VMs' taps. Root only.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { clusterSubnet, vmIp, vmMac } from '../src/common/cluster-addresses.ts';
import type { ClusterNetSpec } from '../src/common/wire.ts';
import { ClusterNetworks } from '../src/local/net/cluster-network.ts';
import { quietLog } from './in-process.ts';
import { cannotBuildNetLab, NetLab } from './net-lab.ts';

const why = cannotBuildNetLab();
if (why) console.log(`# skipped: ${why}`);
const plan = { block: '10.128.0.0/12', prefix: 24 };
const CAP_MBIT = 20;
const lab = new NetLab();
const nets: Record<string, ClusterNetworks> = {};
let lan: Record<string, string> = {};
/** Who a VM stand-in is: its namespace, host and address. */
const vms: Record<string, { host: string; clusterid: number; vmid: number; ip: string }> = {};
const figures: Record<string, number> = {};

/** Where cluster 1's VMs run (sfmd's placement): per-MAC VXLAN entries follow it. */
const PLACEMENT: Record<number, Array<{ vmid: number; host: string }>> = {
  1: [
    { vmid: 0, host: 'hA' },
    { vmid: 1, host: 'hA' },
    { vmid: 2, host: 'hB' },
  ],
};

function spec(clusterid: number, host: string, router: ClusterNetSpec['router']): ClusterNetSpec {
  const s = clusterSubnet(plan, clusterid);
  return {
    network: s.network,
    prefixLength: 24,
    gateway: s.gateway,
    vxlanPort: 4789,
    local: lan[host]!,
    hosts: [lan.hA!, lan.hB!],
    vms: PLACEMENT[clusterid]?.map((p) => ({ vmid: p.vmid, host: lan[p.host]! })),
    router,
  };
}

async function addVm(name: string, host: string, clusterid: number, vmid: number, router: ClusterNetSpec['router'] = null) {
  const ip = vmIp(plan, clusterid, vmid);
  const mac = vmMac(clusterid, vmid);
  const gateway = clusterSubnet(plan, clusterid).gateway;
  await lab.addNamespace(name);
  ports.set(`${host}:${clusterid}:${vmid}`, lab.vmPort(host, name, mac, ip, 24, gateway));
  await nets[host]!.attach(clusterid, vmid, { ip, mac, prefixLength: 24, gateway, dns: [] }, spec(clusterid, host, router));
  vms[name] = { host, clusterid, vmid, ip };
}
const ports = new Map<string, (port: string) => Promise<void>>();

before(async () => {
  if (why) return;
  const t0 = Date.now();
  await Promise.all(['hA', 'hB', 'out'].map((n) => lab.addNamespace(n)));
  lan = await lab.buildLan(['hA', 'hB', 'out']);
  // A second outside address on the same server: reachable on the LAN, but not whitelisted.
  await lab.in('out', ['ip', 'addr', 'add', `${lab.lanBase}.200/24`, 'dev', 'eth0']);
  for (const h of ['hA', 'hB']) {
    await lab.in(h, ['ip', 'route', 'add', 'default', 'via', lan.out!]);
    let current = '';
    nets[h] = new ClusterNetworks(lab.commands(h), quietLog(), {
      makePort: (port) => ports.get(current)!(port),
    });
    const attach = nets[h]!.attach.bind(nets[h]);
    nets[h]!.attach = (clusterid, vmid, net, s) => {
      current = `${h}:${clusterid}:${vmid}`;
      return attach(clusterid, vmid, net, s);
    };
    await nets[h]!.start();
  }
  const router = { whitelist: [lan.out!], bandwidthCapMbit: CAP_MBIT, inboundPorts: [8080, 8082] };
  await addVm('a0', 'hA', 1, 0, router); // cluster 1's master: its router is on hA
  await addVm('a1', 'hA', 1, 1);
  await addVm('b2', 'hB', 1, 2);
  await addVm('c0', 'hA', 2, 0, { whitelist: [], bandwidthCapMbit: 0, inboundPorts: [] }); // another cluster on the same host
  await Promise.all([
    lab.serve('out', 9000, 'echo'),
    lab.serve('out', 9001, 'sink'),
    lab.serve('a0', 8080, 'echo'),
    lab.serve('a0', 8081, 'echo'),
    lab.serve('a0', 8082, 'sink'),
    lab.serve('a1', 7000, 'echo'),
  ]);
  figures.setupMs = Date.now() - t0;
});

after(async () => {
  await lab.close();
  console.log(`# cluster network figures: ${JSON.stringify(figures)}`);
});

test('VMs of a cluster talk on one host and across hosts through VXLAN (ICMP and TCP)', { skip: why ?? false }, async () => {
  figures.vethRttUs = Number(await lab.probe('hA', 'ping', lan.hB!, '-', '20'));
  figures.sameHostRttUs = Number(await lab.probe('a0', 'ping', vms.a1!.ip, '-', '20'));
  figures.crossHostRttUs = Number(await lab.probe('b2', 'ping', vms.a0!.ip, '-', '20'));
  await lab.probe('a0', 'connect', vms.a1!.ip, '7000');
  await lab.probe('b2', 'connect', vms.a1!.ip, '7000');
  assert.deepEqual(
    nets.hB!.describe().map((c) => [c.clusterid, c.taps, c.peers, c.router]),
    [[1, ['sf1v2'], [lan.hA], false]],
    "hB has cluster 1's bridge with b2's tap, hA as its only VXLAN peer, and no router",
  );
  // Unicast to a VM elsewhere goes to its host alone: the kernel holds one entry per remote VM.
  const fdb = await lab.in('hB', ['bridge', 'fdb', 'show', 'dev', 'sf1x']);
  for (const vmid of [0, 1])
    assert.match(fdb, new RegExp(`${vmMac(1, vmid)} dst ${lan.hA!.replaceAll('.', '\\.')} `), `hB: VM 1:${vmid} → hA`);
  assert.doesNotMatch(fdb, new RegExp(`${vmMac(1, 2)} dst`), 'hB holds no VXLAN entry for its own VM');
  // The placement changes (VM 1:1 ended): its entry goes, the others stay.
  await nets.hB!.setHosts(
    1,
    [lan.hA!, lan.hB!],
    [
      { vmid: 0, host: lan.hA! },
      { vmid: 2, host: lan.hB! },
    ],
  );
  assert.deepEqual(nets.hB!.describe()[0]!.remoteMacs, [`${vmMac(1, 0)}@${lan.hA}`]);
  assert.doesNotMatch(await lab.in('hB', ['bridge', 'fdb', 'show', 'dev', 'sf1x']), new RegExp(`${vmMac(1, 1)} dst`));
  await nets.hB!.setHosts(
    1,
    [lan.hA!, lan.hB!],
    PLACEMENT[1]!.map((p) => ({ vmid: p.vmid, host: lan[p.host]! })),
  );
});

test('two clusters cannot reach each other, not even with a forged MAC or IP; a VM cannot spoof its own cluster', {
  skip: why ?? false,
}, async () => {
  // Through the routers: cluster 2's master tries cluster 1's master.
  assert.equal(await lab.probeWorks('c0', 'ping', vms.a0!.ip), false, 'ICMP across clusters');
  assert.equal(await lab.probeWorks('c0', 'connect', vms.a0!.ip, '8080'), false, 'TCP across clusters');
  // Inside its own cluster, a VM with another source address or MAC is dropped at its tap.
  await lab.in('a1', ['ip', 'addr', 'add', '10.128.1.77/24', 'dev', 'eth0']);
  assert.equal(await lab.probeWorks('a1', 'ping', vms.a0!.ip, '10.128.1.77'), false, 'a forged source IP');
  assert.equal(await lab.probeWorks('a1', 'arp', 'eth0', '10.128.1.77', vms.a0!.ip), false, 'ARP with a forged sender IP');
  assert.equal(await lab.probeWorks('a1', 'arp', 'eth0', vms.a1!.ip, vms.a0!.ip), true, 'ARP with its own identity works');
  await lab.in('a1', ['ip', 'link', 'set', 'eth0', 'address', '02:66:66:66:66:66']);
  assert.equal(await lab.probeWorks('a1', 'ping', vms.a0!.ip), false, 'a forged MAC');
  await lab.in('a1', ['ip', 'link', 'set', 'eth0', 'address', vmMac(1, 1)]);
  // Cluster 2's master takes cluster 1's identities outright: its frames still stay on its own bridge.
  await lab.in('c0', ['ip', 'link', 'set', 'eth0', 'address', vmMac(1, 2)]);
  await lab.in('c0', ['ip', 'addr', 'add', '10.128.1.3/24', 'dev', 'eth0']);
  assert.equal(await lab.probeWorks('c0', 'arp', 'eth0', '10.128.1.3', vms.a0!.ip), false, 'ARP into another cluster');
  assert.equal(await lab.probeWorks('c0', 'ping', vms.a0!.ip, '10.128.1.3'), false, 'ICMP into another cluster');
  assert.equal(await lab.probeWorks('c0', 'connect', vms.a0!.ip, '8080'), false, 'TCP into another cluster');
  assert.equal(await lab.probeWorks('a0', 'ping', vms.a1!.ip), true, 'cluster 1 still works');
});

test('the router: whitelisted outside reachable from every host of the cluster, the rest not; inbound only to listed master ports', {
  skip: why ?? false,
}, async () => {
  await lab.probe('a0', 'connect', lan.out!, '9000');
  await lab.probe('b2', 'connect', lan.out!, '9000'); // through VXLAN to the router on hA
  assert.equal(await lab.probeWorks('a1', 'connect', `${lab.lanBase}.200`, '9000'), false, 'not whitelisted');
  assert.equal(await lab.probeWorks('c0', 'connect', lan.out!, '9000'), false, "not in cluster 2's (empty) whitelist");
  await lab.probe('out', 'connect', lan.hA!, '8080');
  assert.equal(await lab.probeWorks('out', 'connect', lan.hA!, '8081'), false, 'a master port not listed');
  assert.equal(await lab.probeWorks('out', 'connect', vms.a1!.ip, '7000'), false, 'a clone is not reachable from outside');
});

test(`outside traffic is capped at bandwidth_cap (${CAP_MBIT} Mbit/s) both ways; traffic inside the cluster is not`, {
  skip: why ?? false,
}, async () => {
  const bytes = String(4 * 1024 * 1024);
  figures.outMbit = Number(await lab.probe('a0', 'connect', lan.out!, '9001', bytes));
  figures.inMbit = Number(await lab.probe('out', 'connect', lan.hA!, '8082', bytes));
  figures.insideMbit = Number(await lab.probe('b2', 'connect', vms.a0!.ip, '8082', String(32 * 1024 * 1024)));
  for (const way of ['outMbit', 'inMbit'] as const) {
    assert.ok(figures[way]! <= CAP_MBIT * 1.05, `${way} ${figures[way]} Mbit/s is over the cap`);
    assert.ok(figures[way]! >= CAP_MBIT * 0.5, `${way} ${figures[way]} Mbit/s: the cap should still let most of it through`);
  }
  assert.ok(figures.insideMbit! > CAP_MBIT * 5, `inside the cluster ${figures.insideMbit} Mbit/s: never capped`);
});

test('a VM leaving takes its tap; the last one takes the bridge, VXLAN and rules', { skip: why ?? false }, async () => {
  await nets.hB!.detach(1, 2);
  assert.deepEqual(nets.hB!.describe(), []);
  assert.equal(await lab.works('hB', ['ip', 'link', 'show', 'sf1b']), false);
  assert.equal((await lab.in('hB', ['nft', 'list', 'tables'])).trim(), '');
  await nets.hA!.detach(2, 0);
  assert.equal(await lab.works('hA', ['ip', 'link', 'show', 'sf2b']), false);
  assert.equal(await lab.probeWorks('a0', 'ping', vms.a1!.ip), true, 'the other cluster keeps working');
});

test('after kill -9 of a process running the network manager, the next start leaves nothing stale', { skip: why ?? false }, async () => {
  await lab.addNamespace('hC');
  const child = spawn(
    'ip',
    ['netns', 'exec', lab.ns('hC'), process.execPath, '--import', 'tsx', fileURLToPath(new URL('./net-child.ts', import.meta.url))],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the child ended (${code}) before it was ready`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const links = async () => (await lab.in('hC', ['ip', '-o', 'link', 'show'])).split('\n').filter((l) => / sf3/.test(l)).length;
  assert.equal(await links(), 6, 'the killed process left its bridge, VXLAN, router leg and two taps');
  assert.notEqual((await lab.in('hC', ['nft', 'list', 'tables'])).trim(), '');
  const restarted = new ClusterNetworks(lab.commands('hC'), quietLog(), { outsideInterface: 'lo' });
  const swept = await restarted.start();
  assert.deepEqual(swept.links.sort(), ['sf3b', 'sf3g', 'sf3r', 'sf3v0', 'sf3v1', 'sf3x']);
  assert.equal(await links(), 0);
  assert.equal((await lab.in('hC', ['nft', 'list', 'tables'])).trim(), '');
  assert.equal((await lab.in('hC', ['tc', 'qdisc', 'show'])).includes('tbf'), false);
});
