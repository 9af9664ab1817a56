// The configs of a one-host Snowflock on this machine: sfmd.cfg listing host kvm1 and kvm1's sfld.cfg,
// on free ports. Boundary: files only; starting the daemons is the caller's (CLI or in-process).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './free-port.ts';

export interface OneHostCapacity {
  cpus: number;
  ramGiB: number;
}

/** Writes both configs into `home` (sfmd.cfg ending with `sfmdExtra`, more settings); returns sfmd's port. */
export async function writeOneHostConfigs(home: string, capacity: OneHostCapacity, sfmdExtra = ''): Promise<number> {
  const port = await freePort();
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    `master_listen_port = ${port}\ncluster_hosts = [{'host': 'kvm1', 'cpus': ${capacity.cpus}, 'RAM': ${capacity.ramGiB} << 30}]\nclusterid = 1\n${sfmdExtra}`,
  );
  writeFileSync(
    path.join(home, 'sfld.cfg'),
    `hostname = 'kvm1'\nmaster_host = '127.0.0.1'\nmaster_port = ${port}\nlocal_listen_port = ${await freePort()}\n${NO_CLUSTER_NETWORK}`,
  );
  return port;
}

/**
 * sfld.cfg line for sflds of tests that share this machine's network namespace: test files run side by
 * side, and their sflds would fight over the same bridge names and sweep each other's (the cluster
 * network is tested in namespaces of its own: cluster-network.test.ts, and the multi-host harness).
 */
export const NO_CLUSTER_NETWORK = 'cluster_network = False\n';
