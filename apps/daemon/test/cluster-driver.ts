// Reading a running Snowflock from tests, whatever its shape (one host or namespaced hosts): domains
// asked in-process over tRPC with the home's admin token, waiting for a domain to end, its console text.
import assert from 'node:assert/strict';
import { createCommandContext } from '../src/cli/context.ts';
import type { DiskView } from '../src/master/disk-view.ts';
import { type DomainState, isLiveDomainState } from '../src/master/store/states.ts';
import { runSf, waitUntil } from './cli-runner.ts';

export interface DomainRow {
  domain: string;
  state: DomainState;
  host: string;
  exitCode: number | null;
  endReason: string | null;
  ip: string | null;
  mac: string | null;
  /** Its processors: a master's from its seed, a clone's from its ticket's allocation. */
  vcpus: number;
  /** The ticket whose clone operation made it (null: a master). */
  ticket: string | null;
  /** What its NIC moved: live while it runs, final once ended (null: no NIC, or no figures yet). */
  net: { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; drops: number; live: boolean } | null;
  /** Its disk: the cluster's image and its figures, live while it runs, final once ended (null: no disk). */
  disk: DiskView | null;
}

/**
 * Every domain sfmd knows, asked in-process (tRPC with the home's admin token): a CLI process per poll
 * would take seconds to start on a machine busy running the VMs under test.
 */
export async function domains(env: NodeJS.ProcessEnv): Promise<DomainRow[]> {
  const client = createCommandContext({ home: env.SNOWFLOCK_HOME, json: true }).client();
  return await client.state.domains.query({ all: true });
}

/** Waits until domain `name` (CLUSTER:VMID) is in an ended state; returns its row. */
export function domainEnded(env: NodeJS.ProcessEnv, name: string, timeoutMs: number): Promise<DomainRow> {
  return waitUntil(`${name} to end`, timeoutMs, async () => {
    const d = (await domains(env)).find((x) => x.domain === name);
    return d && !isLiveDomainState(d.state) ? d : null;
  });
}

/** What the domain's console holds now (through `sf console --once`). */
export async function consoleText(env: NodeJS.ProcessEnv, name: string): Promise<string> {
  const r = await runSf(['console', name, '--once'], env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}
