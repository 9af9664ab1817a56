// Records at scale (DESIGN §7): a real SQLite record holding BENCH_RECORDS_OPS operations (100 000) and
// BENCH_RECORDS_DOMAINS ended domains (10 000) over 500 clusters, then every list procedure the dashboard,
// sfstate and the CLI use, called through the real router: p50/p99 each against the 200 ms target, with a
// /healthz-sized floor (health) measured in the same run. Prints one JSON line.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GiB, masterFixture } from '../apps/daemon/test/support.ts';
import { hostTuning } from './host-tuning.ts';

// What the daemons apply at start, applied here too and reported with the figures.
const tuning = hostTuning();

const OPS = Number(process.env.BENCH_RECORDS_OPS ?? 100_000);
const DOMAINS = Number(process.env.BENCH_RECORDS_DOMAINS ?? 10_000);
const CLUSTERS = 500;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const TARGET_MS = 200;
const KINDS = ['cluster.seed', 'ticket.request', 'clone.master', 'clone.merge', 'clone.exit', 'host.register', 'doctor.repair'];

const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const r2 = (x: number) => +x.toFixed(2);

const hosts = Array.from({ length: 8 }, (_, i) => ({ name: `node${i}`, cpus: 32, ram: 128 * GiB }));
const f = await masterFixture(hosts);
try {
  await f.online(...hosts.map((h) => h.name));
  const db = f.svc.db;
  const hostRows = await db.host.findMany();
  const fill0 = performance.now();
  const day = 86_400_000;
  const t0 = Date.now() - 90 * day;
  const clusterIds: string[] = [];
  for (let c = 1; c <= CLUSTERS; c++) {
    const id = randomUUID();
    clusterIds.push(id);
    const at = new Date(t0 + (c / CLUSTERS) * 89 * day);
    await db.cluster.create({
      data: {
        id,
        clusterid: c,
        name: `c${c}`,
        seedConfig: '{"kernel":"/x","vcpus":1,"memoryMiB":64}',
        state: 'shutdown',
        createdAt: at,
        endedAt: at,
      },
    });
  }
  const perCluster = Math.ceil(DOMAINS / CLUSTERS);
  for (let start = 0; start < DOMAINS; start += 1000) {
    await db.domain.createMany({
      data: Array.from({ length: Math.min(1000, DOMAINS - start) }, (_, k) => {
        const i = start + k;
        const at = new Date(t0 + (i / DOMAINS) * 89 * day);
        return {
          clusterId: clusterIds[Math.floor(i / perCluster)]!,
          vmid: i % perCluster,
          hostId: hostRows[i % hostRows.length]!.id,
          vcpus: 1,
          memory: BigInt(64 << 20),
          state: 'exited' as const,
          exitCode: 0,
          endReason: 'the guest exited with status 0',
          createdAt: at,
          endedAt: at,
        };
      }),
    });
  }
  for (let start = 0; start < OPS; start += 2000) {
    await db.operation.createMany({
      data: Array.from({ length: Math.min(2000, OPS - start) }, (_, k) => {
        const i = start + k;
        const clusterid = 1 + Math.floor((i / OPS) * CLUSTERS);
        const at = new Date(t0 + (i / OPS) * 89 * day);
        return {
          kind: KINDS[i % KINDS.length]!,
          target: `cluster:${clusterid}`,
          requester: 'token:admin',
          status: i % 50 === 0 ? ('failed' as const) : ('succeeded' as const),
          detail: '{}',
          startedAt: at,
          finishedAt: at,
          clusterid,
        };
      }),
    });
  }
  f.svc.keepOperations = OPS * 2; // this run measures reads: nothing pruned under it
  const fillMs = performance.now() - fill0;

  const admin = await f.admin();
  const calls: Record<string, () => Promise<unknown>> = {
    health: () => admin.health(),
    'state.hosts': () => admin.state.hosts(),
    'state.domains': () => admin.state.domains({ all: false }),
    'state.domains(all)': () => admin.state.domains({ all: true }),
    'cluster.list': () => admin.cluster.list(),
    'operations.list': () => admin.operations.list({ limit: 50 }),
    'operations.page(old cluster)': () => admin.operations.page({ clusterid: 1, limit: 50 }),
    'operations.page(kind)': () => admin.operations.page({ kind: 'clone.exit', limit: 50 }),
    'operations.stats': () => admin.operations.stats(),
    'dashboard.overview': () => admin.dashboard.overview(),
    'dashboard.cluster(old)': () => admin.dashboard.cluster({ clusterid: 1 }),
    'dashboard.cluster(new)': () => admin.dashboard.cluster({ clusterid: CLUSTERS }),
    'doctor.check': () => admin.doctor.check(),
  };
  const figures: Record<string, { p50: number; p99: number }> = {};
  const over: string[] = [];
  for (const [name, call] of Object.entries(calls)) {
    await call(); // warm: the query plans and prepared statements
    const xs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const s = performance.now();
      await call();
      xs.push(performance.now() - s);
    }
    figures[name] = { p50: r2(pct(xs, 0.5)), p99: r2(pct(xs, 0.99)) };
    if (pct(xs, 0.99) > TARGET_MS) over.push(name);
  }
  console.log(
    JSON.stringify({
      bench: 'records',
      ...tuning,
      operations: await db.operation.count(),
      domains: await db.domain.count(),
      clusters: CLUSTERS,
      fillMs: Math.round(fillMs),
      rounds: ROUNDS,
      targetP99Ms: TARGET_MS,
      met: over.length === 0,
      over,
      ms: figures,
    }),
  );
} finally {
  await f.close();
}
