// Control-plane latency: a guest's ticket request + dispose through sfmd's real HTTP tRPC API (the
// master is a real VM on a real sfld), and the default allocator's cost, against a /healthz round
// trip measured in the same run (the floor). Prints one JSON line.
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startSfmd } from '../apps/daemon/src/master/main.ts';
import { startSfld } from '../apps/daemon/src/local/sfld.ts';
import { createSfmdClient } from '../apps/daemon/src/common/sfmd-client.ts';
import { defaultAllocator, type HostCapacity } from '../apps/daemon/src/master/allocator/index.ts';
import { createLogger } from '../apps/daemon/src/common/logger.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function time(rounds: number, fn: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

const home = mkdtempSync(path.join(os.tmpdir(), 'sf-bench-'));
// One host that may hand out 64 cpus: the allocator's bookkeeping, not this machine, is measured.
writeFileSync(path.join(home, 'sfmd.cfg'), "cluster_hosts = [{'host': 'bench', 'cpus': 64, 'RAM': 256 << 30}]\n");
const log = createLogger('bench');
log.level = 'silent';
const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log });
writeFileSync(path.join(home, 'sfld.cfg'), `hostname = 'bench'\nmaster_host = '127.0.0.1'\nmaster_port = ${sfmd.port}\n`);
const sfld = await startSfld({ home, log, localPort: 0 });
const HELLO = new URL('../native/guest/build/bin/hello.elf', import.meta.url).pathname;
try {
  while (!sfld.isRegistered()) await new Promise((r) => setTimeout(r, 20));
  const url = `http://127.0.0.1:${sfmd.port}`;
  const admin = createSfmdClient({ url, token: sfmd.adminToken });
  // An interactive hello waits at its prompt: a master that stays up for the whole run.
  await admin.cluster.seed.mutate({
    config: { name: 'bench', diskImage: null, kernel: HELLO, args: 'interactive=1', vcpus: 1, memoryMiB: 64 },
  });
  const master = createSfmdClient({ url, token: sfmd.adminToken, domain: '1:0' });

  const healthz = await time(ROUNDS, async () => (await fetch(`${url}/healthz`)).json());
  const ticket = await time(ROUNDS, async () => {
    const t = await master.ticket.request.mutate({ nclones: 32 });
    await master.ticket.dispose.mutate({ ticket: t.ticket });
  });

  const capacity: HostCapacity[] = Array.from({ length: 64 }, (_, i) => ({
    hostId: `h${i}`,
    name: `h${i}`,
    cpusFree: 32,
    ramFree: 128 * 2 ** 30,
  }));
  const allocStart = performance.now();
  const ALLOCS = 2000;
  for (let i = 0; i < ALLOCS; i++)
    defaultAllocator.allocate(capacity, { amount: 32, procs: false, min: 1, masterVcpus: 2, memory: 2 ** 30 });
  const allocUs = ((performance.now() - allocStart) * 1000) / ALLOCS;

  const healthP50 = percentile(healthz, 50);
  const ticketP50 = percentile(ticket, 50);
  console.log(
    JSON.stringify({
      bench: 'control-plane',
      rounds: ROUNDS,
      healthz_p50_ms: +healthP50.toFixed(3),
      ticket_request_dispose_32_p50_ms: +ticketP50.toFixed(3),
      ticket_request_dispose_32_p99_ms: +percentile(ticket, 99).toFixed(3),
      ticket_vs_healthz_ratio: +(ticketP50 / healthP50).toFixed(2),
      allocate_32_over_64_hosts_us: +allocUs.toFixed(1),
    }),
  );
} finally {
  await sfld.stop();
  await sfmd.stop();
  rmSync(home, { recursive: true, force: true });
}
