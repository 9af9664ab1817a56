// The cluster network on 3 namespaced hosts through the real daemons (DESIGN §7, issue 12): clone↔clone UDP round
// trips (same host, across hosts) and TCP streams vs the same between two hosts' namespaces (measured here), 8 clones
// connecting to the master at once, and a download from the outside through the router capped at 20 Mbit/s.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cannotBuildNetwork, hostsDown, hostsUp } from '../scripts/hosts.mjs';
import { createCommandContext } from '../apps/daemon/src/cli/context.ts';
import { runSf, waitUntil } from '../apps/daemon/test/cli-runner.ts';
import { consoleText } from '../apps/daemon/test/cluster-driver.ts';
import { domains, masterOutput, seed } from '../apps/daemon/test/harness.ts';
import { nsBaseline } from './ns-baseline.ts';
import { hostTuning } from './host-tuning.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NETBENCH = `${ROOT}native/guest/build/bin/netbench.elf`;
const HOSTS = 3;
const CAP_MBIT = 20;
const PINGS = 500;
const STREAM_MIB = 16;
const OUTSIDE_MIB = 8;
const OUTSIDE_PORT = 9000;

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r2 = (x: number) => +x.toFixed(2);

function fail(message: string): never {
  throw new Error(`net.bench: ${message}`);
}

const why = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : cannotBuildNetwork();
if (why) {
  console.log(JSON.stringify({ bench: 'net', skipped: why }));
  process.exit(0);
}

const prefix = 'nb';
const home = '/tmp/sf-net-bench';
const env = { SNOWFLOCK_HOME: home };
await hostsDown({ prefix, home, purge: true }).catch(() => {});
// 9 CPU slots for the master and 8 clones, so connect-all's VMs spread over all 3 hosts.
const status = await hostsUp({ count: HOSTS, prefix, home, subnet: 'auto', cpus: 3, ramGiB: 2 });
const hosts = status.hosts as { address: string; netns: string }[];
const outside = status.outside as { netns: string; whitelisted: string };
const started: { kill(signal: string): void }[] = [];
const figures: Record<string, unknown> = { bench: 'net', ...hostTuning(), hosts: HOSTS };

try {
  // The harness's sfmd.cfg has no whitelist or cap: add both and restart sfmd (the sflds re-register by themselves).
  appendFileSync(path.join(home, 'sfmd.cfg'), `network_whitelist = ['${outside.whitelisted}']\nbandwidth_cap = ${CAP_MBIT}\n`);
  await runSf(['sfmd', 'stop', '--json'], env);
  const restarted = await runSf(['sfmd', 'start', '--json'], env);
  if (restarted.code !== 0) fail(`sfmd did not restart: ${restarted.stderr || restarted.stdout}`);
  const client = createCommandContext({ home, json: true }).client();
  await waitUntil('the hosts to re-register', 30_000, async () => {
    const rows = await client.state.hosts.query().catch(() => []);
    return rows.filter((h) => h.state === 'online').length === HOSTS;
  });

  // Baselines: a UDP echo and a TCP streamer in h1's namespace, the client in h2's.
  const [a, b] = hosts;
  const base = await nsBaseline({ serverNetns: a!.netns, clientNetns: b!.netns, address: a!.address, pings: PINGS, streamMib: STREAM_MIB });
  const veth = { p50: base.rtt_p50_us, p99: base.rtt_p99_us, mbs: base.tcp_mb_s };
  figures.veth_udp_rtt_p50_us = veth.p50;
  figures.veth_udp_rtt_p99_us = veth.p99;
  figures.veth_tcp_stream_mb_s = veth.mbs;

  /** Seeds netbench; returns its cluster id, the master's console, clone 1's console and the host of each vmid. */
  const run = async (args: string) => {
    const clusterid = await seed(env, home, NETBENCH, args);
    const master = await masterOutput(env, clusterid, 60_000).catch(async (err: Error) => {
      const texts = [];
      for (const d of (await domains(env)).filter((x) => x.domain.startsWith(`${clusterid}:`)))
        texts.push(`--- ${d.domain} on ${d.host} (${d.state}):\n${await consoleText(env, d.domain)}`);
      fail(`netbench ${args}: ${err.message}\n${texts.join('\n')}`);
    });
    const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
    const host = new Map(rows.map((d) => [Number(d.domain.split(':')[1]), d.host]));
    const clone1 = host.has(1) ? await consoleText(env, `${clusterid}:1`) : '';
    if (!/: \d+ clones, done|outside-stream bytes/.test(master)) fail(`netbench ${args} failed:\n${master}\n${clone1}`);
    return { master, clone1, host };
  };
  const lines = (text: string, mode: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`netbench ${mode} `))
      .map((l) => Object.fromEntries([...l.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, Number(m[2])])) as Record<string, number>);
  /** Splits clone 1's per-peer lines by whether the peer ran on clone 1's host. */
  const byPlace = (r: { host: Map<number, string> }, rows: Record<string, number>[]) => ({
    same: rows.filter((x) => r.host.get(x.peer!) === r.host.get(1)),
    across: rows.filter((x) => r.host.get(x.peer!) !== r.host.get(1)),
  });
  const placement = (r: { host: Map<number, string> }) => [...r.host].map(([v, h]) => `${v}@${h}`).join(' ');

  // Clone 1 against clones 2..4. The scheduler places them, not this bench: seed again (at most 4 runs) until some
  // peer has shared clone 1's host and some has not.
  const rttRows: { same: Record<string, number>[]; across: Record<string, number>[] } = { same: [], across: [] };
  const placements: string[] = [];
  for (let i = 0; i < 4 && (!rttRows.same.length || !rttRows.across.length); i++) {
    const rtt = await run(`mode=udp-rtt clones=4 n=${PINGS} timeout=100`);
    const rows = byPlace(rtt, lines(rtt.clone1, 'udp-rtt'));
    if (rows.same.length + rows.across.length !== 3) fail(`udp-rtt: clone 1 did not reach every peer:\n${rtt.clone1}`);
    rttRows.same.push(...rows.same);
    rttRows.across.push(...rows.across);
    placements.push(placement(rtt));
  }
  if (!rttRows.same.length || !rttRows.across.length) fail(`udp-rtt: no peer on one side in 4 runs (${placements.join('; ')})`);
  figures.udp_rtt_placement = placements.join('; ');
  figures.clone_udp_rtt_same_host_p50_us = med(rttRows.same.map((x) => x.p50_us!));
  figures.clone_udp_rtt_same_host_p99_us = med(rttRows.same.map((x) => x.p99_us!));
  figures.clone_udp_rtt_across_hosts_p50_us = med(rttRows.across.map((x) => x.p50_us!));
  figures.clone_udp_rtt_across_hosts_p99_us = med(rttRows.across.map((x) => x.p99_us!));
  figures.clone_udp_rtt_min_us = Math.min(...[...rttRows.same, ...rttRows.across].map((x) => x.min_us!));
  figures.udp_lost = [...rttRows.same, ...rttRows.across].reduce((s, x) => s + x.lost!, 0);

  const stream = await run(`mode=tcp-stream clones=4 mib=${STREAM_MIB} timeout=100`);
  const mbs = (x: Record<string, number>) => x.bytes! / x.us!;
  const streamRows = byPlace(stream, lines(stream.clone1, 'tcp-stream'));
  figures.tcp_stream_placement = placement(stream);
  if (streamRows.same.length) figures.clone_tcp_stream_same_host_mb_s = r2(med(streamRows.same.map(mbs)));
  if (streamRows.across.length) figures.clone_tcp_stream_across_hosts_mb_s = r2(med(streamRows.across.map(mbs)));

  const all = await run('mode=connect-all clones=8');
  const gather = lines(all.master, 'connect-all')[0] ?? fail(`connect-all printed no figures:\n${all.master}`);
  figures.connect_all_clones = gather.served;
  figures.connect_all_hosts = new Set(all.host.values()).size;
  figures.connect_all_total_ms = gather.total_ms;
  figures.connect_all_spread_ms = gather.spread_ms;
  figures.connect_all_clone_p50_us = gather.p50_us;
  figures.connect_all_clone_max_us = gather.max_us;

  // A streamer in the outside namespace on the whitelisted address; the master downloads through its router.
  const STREAMER = `import socket\nt=socket.socket();t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);t.bind(("${outside.whitelisted}",${OUTSIDE_PORT}));t.listen(4)\nbuf=b"o"*65536\nwhile True:\n c,_=t.accept()\n for i in range(${OUTSIDE_MIB * 16}): c.sendall(buf)\n c.close()\n`;
  const streamer = spawn('ip', ['netns', 'exec', outside.netns, 'python3', '-c', STREAMER], { stdio: 'ignore' });
  started.push(streamer);
  await new Promise((r) => setTimeout(r, 500));
  const out = await run(`mode=outside-stream host=${outside.whitelisted} port=${OUTSIDE_PORT}`);
  streamer.kill('SIGKILL');
  const down = lines(out.master, 'outside-stream')[0] ?? fail(`outside-stream printed no figures:\n${out.master}`);
  if (down.bytes !== OUTSIDE_MIB << 20) fail(`outside-stream read ${down.bytes} bytes, not ${OUTSIDE_MIB} MiB:\n${out.master}`);
  figures.outside_download_mbit_s = r2((down.bytes! * 8) / down.us!);

  const sameP50 = figures.clone_udp_rtt_same_host_p50_us as number;
  const acrossP50 = figures.clone_udp_rtt_across_hosts_p50_us as number;
  // The stream target on the slower placement that ran (across hosts when there was one).
  const tcp = (figures.clone_tcp_stream_across_hosts_mb_s ?? figures.clone_tcp_stream_same_host_mb_s) as number;
  figures.targets = {
    udp_rtt_same_host_p50_le_5x_veth: { ratio: r2(sameP50 / veth.p50), met: sameP50 <= 5 * veth.p50 },
    udp_rtt_across_hosts_p50_le_5x_veth: { ratio: r2(acrossP50 / veth.p50), met: acrossP50 <= 5 * veth.p50 },
    tcp_stream_ge_25pct_veth: { ratio: +(tcp / veth.mbs).toFixed(4), met: tcp >= 0.25 * veth.mbs },
    outside_le_1_05x_cap: {
      ratio: r2((figures.outside_download_mbit_s as number) / CAP_MBIT),
      met: (figures.outside_download_mbit_s as number) <= 1.05 * CAP_MBIT,
    },
  };
} finally {
  for (const p of started) p.kill('SIGKILL');
  await hostsDown({ prefix, home, purge: true }).catch(() => {});
}
console.log(JSON.stringify(figures));
