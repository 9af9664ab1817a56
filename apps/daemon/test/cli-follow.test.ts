// The CLI that follows, against one real sfmd + sfld (in this process) and a booted guest: sf events and
// sf ops --follow print what happens as it happens and end on Ctrl-C; sf hosts / clusters / cluster show
// give the records the dashboard shows, also as YAML; the waits print no progress line when piped.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { BIN_DIR, json, runBin, runSf, SF_BIN } from './cli-runner.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { soloSnowflock } from './in-process.ts';

type Line = Record<string, unknown>;

/** A following command (sf events, sf ops --follow) as a child process, its NDJSON lines collected as they come. */
function follow(args: string[], env: NodeJS.ProcessEnv) {
  const child: ChildProcess = spawn(process.execPath, [SF_BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let partial = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push(JSON.parse(text) as Line); // every line is one JSON object
    for (const wake of waiters) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return {
    lines,
    stderr: () => stderr,
    /** The first line `match` accepts, waiting up to `ms` for it. */
    async line(what: string, match: (l: Line) => boolean, ms = 20_000): Promise<Line> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`no line with ${what} from sf ${args.join(' ')} (stderr: ${stderr}); got ${JSON.stringify(lines.slice(-5))}`);
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, 200);
          waiters.add(wake);
        });
      }
    },
    /** Ctrl-C: resolves with the exit status. */
    async interrupt(): Promise<number | null> {
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      const [code] = (await exited) as [number | null];
      return code;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/** Whether a progress line was written: it leaves carriage returns and erase-line sequences behind. */
const drewProgress = (stderr: string) => stderr.includes('\r') || stderr.includes('\x1b[K');

test('sf events, sf ops --follow and the Host and Cluster Views follow a real sfmd', async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const solo = await soloSnowflock(t, 'sf-follow-', { sfld: true });
  const env = { SNOWFLOCK_URL: solo.url, SNOWFLOCK_HOME: solo.home };
  const events = follow(['events', '--json', '--metrics'], env);
  const ops = { current: null as ReturnType<typeof follow> | null };
  t.after(() => {
    events.kill();
    ops.current?.kill();
  });
  // The first host metrics (every second) say the feed is connected.
  await events.line('host metrics', (l) => l.event === 'host:metrics' && l.host === 'solo');

  await t.test('sf events prints the seed of a cluster as it happens; sfseed piped prints no progress line', async () => {
    const cfg = path.join(solo.home, 'hello.cfg');
    writeFileSync(cfg, seedFile(guestImage('hello'), 'interactive=1')); // a master that stays up
    const seeded = await runBin('sfseed', [cfg], env);
    assert.equal(seeded.code, 0, seeded.stderr);
    assert.match(seeded.stdout, /^\(1, '/);
    assert.ok(!drewProgress(seeded.stderr), `no progress line in a pipe: ${JSON.stringify(seeded.stderr)}`);
    const running = await events.line(
      '1:0 running',
      (l) => l.event === 'domain:state' && l.clusterid === 1 && l.vmid === 0 && l.state === 'running',
    );
    assert.equal(running.host, 'solo');
    assert.equal(typeof running.at, 'string');
    await events.line(
      'the seed operation',
      (l) => l.event === 'operation:progress' && l.kind === 'cluster.seed' && l.status === 'succeeded',
    );
  });

  await t.test('sf ops --follow lists the recent operations, then each new one as it starts and ends', async () => {
    ops.current = follow(['ops', '--follow', '--json'], env);
    const seedOp = await ops.current.line('the seed in the recent list', (l) => l.kind === 'cluster.seed');
    assert.equal(seedOp.status, 'succeeded');
    assert.equal(seedOp.requester, 'token:admin');
    // sfclone's waits print no progress line into a pipe either.
    const cloned = await runBin('sfclone', ['1', '--block', '--domain', '1:0'], env);
    assert.equal(cloned.code, 0, cloned.stderr);
    assert.ok(!drewProgress(cloned.stderr), `no progress line in a pipe: ${JSON.stringify(cloned.stderr)}`);
    const request = await ops.current.line('the ticket request', (l) => l.kind === 'ticket.request' && l.status === 'succeeded');
    assert.equal(request.requester, 'token:admin', 'the host-side sfclone acts for 1:0 with the admin token');
    await ops.current.line('the clone starting', (l) => l.kind === 'clone.master' && l.status === 'running');
    await ops.current.line('the clone ending', (l) => l.kind === 'clone.master' && l.status === 'succeeded');
    await events.line('1:1 running', (l) => l.event === 'domain:state' && l.clusterid === 1 && l.vmid === 1 && l.state === 'running');
  });

  await t.test('sf hosts, sf clusters and sf cluster show give the records (as JSON and as YAML)', async () => {
    const db = solo.sfmd.svc.db;
    const hosts = await json<{
      hosts: { name: string; state: string; cpus: number; ram: number; cpusUsed: number }[];
      domains: { domain: string }[];
    }>(runSf(['hosts', '--json'], env));
    const hostRows = await db.host.findMany();
    assert.deepEqual(
      hosts.hosts.map((h) => [h.name, h.state, h.cpus, h.ram]),
      hostRows.map((h) => [h.name, h.state, h.cpus, Number(h.ram)]),
    );
    assert.equal(hosts.hosts[0]!.cpusUsed, 2, 'the master and its clone hold both cpus');
    assert.deepEqual(hosts.domains.map((d) => d.domain).sort(), ['1:0', '1:1']);
    const table = await runSf(['hosts'], env);
    assert.match(table.stdout, /^HOST\s+STATE\s+KVM\s+CPUS/);
    assert.match(table.stdout, /solo\s+online\s+yes\s+2\/2/);
    assert.match(table.stdout, /1:0\(running\) 1:1\(running\)/);

    const clusters = await json<{ clusterid: number; state: string; liveDomains: number }[]>(runSf(['clusters', '--json'], env));
    const clusterRows = await db.cluster.findMany();
    assert.deepEqual(
      clusters.map((c) => [c.clusterid, c.state, c.liveDomains]),
      clusterRows.map((c) => [c.clusterid, c.state, 2]),
    );
    const yaml = await runSf(['clusters', '--format', 'yaml'], env);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.deepEqual(parseYaml(yaml.stdout), clusters, 'the YAML reads back as the JSON');

    const view = await json<{
      clusterid: number;
      domains: { domain: string; host: string; state: string; ticket: string | null }[];
      tickets: { ticket: string; state: string; allocations: { vmid: number; host: string }[] }[];
      operations: { kind: string }[];
    }>(runSf(['cluster', 'show', '1', '--json'], env));
    const domainRows = await db.domain.findMany({ include: { host: true }, orderBy: { vmid: 'asc' } });
    assert.deepEqual(
      view.domains.map((d) => [d.domain, d.host, d.state, d.ticket]),
      domainRows.map((d) => [`1:${d.vmid}`, d.host.name, d.state, d.ticketId]),
    );
    const ticketRow = await db.ticket.findFirstOrThrow({ include: { allocations: { include: { host: true } } } });
    assert.deepEqual(
      view.tickets.map((tk) => [tk.ticket, tk.state, tk.allocations.map((a) => [a.vmid, a.host])]),
      [[ticketRow.id, ticketRow.state, ticketRow.allocations.map((a) => [a.vmid, a.host.name])]],
    );
    assert.ok(view.operations.some((o) => o.kind === 'clone.master'));
    const shown = await runSf(['cluster', 'show', '1'], env);
    assert.match(shown.stdout, /^cluster 1: running/);
    assert.match(shown.stdout, new RegExp(`${ticketRow.id}\\s+outstanding\\s+1/1\\s+1→solo:1`));
    const unknown = await runSf(['cluster', 'show', '99'], env);
    assert.equal(unknown.code, 7, 'CLUSTER_UNKNOWN');
  });

  await t.test("bash completion offers sfmd's domain and cluster ids", async () => {
    // An `sf` on PATH, as an installed one would be: the completion asks it for the ids.
    const bin = path.join(solo.home, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'sf'), `#!/bin/sh\nexec '${process.execPath}' '${SF_BIN}' "$@"\n`, { mode: 0o755 });
    const script = [
      'source <(sf completion bash)',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${…}, not a template
      'c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _sf; echo "${COMPREPLY[*]}"; }',
      "c sf console ''",
      'c sf cluster show 1',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'bash',
        ['-c', script],
        { env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH}` }, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
      ),
    );
    assert.deepEqual(out.split('\n').slice(0, 2), ['1:0 1:1', '1']);
  });

  await t.test('sfshutdown shows up in both feeds, and Ctrl-C ends them with status 0', async () => {
    const down = await runBin('sfshutdown', ['--force', '--domain', '1:0'], env);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(!drewProgress(down.stderr), `no progress line in a pipe: ${JSON.stringify(down.stderr)}`);
    await ops.current!.line('the shutdown', (l) => l.kind === 'cluster.shutdown' && l.status === 'succeeded');
    await events.line('1:0 ended', (l) => l.event === 'domain:state' && l.vmid === 0 && l.clusterid === 1 && l.state === 'stopped');
    assert.equal(await events.interrupt(), 0, events.stderr());
    assert.equal(await ops.current!.interrupt(), 0, ops.current!.stderr());
  });

  await t.test('on a terminal, sfseed shows its progress line and erases it', async (st) => {
    if (skipIf(st, existsSync('/usr/bin/script') ? null : 'no script(1) here to give sfseed a terminal')) return;
    const cfg = path.join(solo.home, 'hello.cfg');
    // script(1) runs the command on a pseudo-terminal and copies what it wrote to ours (the pipe).
    const command = [process.execPath, path.join(BIN_DIR, 'sfseed.mjs'), cfg].map((a) => `'${a}'`).join(' ');
    const seeded = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, out) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out }),
      );
    });
    assert.equal(seeded.code, 0, seeded.out);
    assert.match(seeded.out, /booting the new cluster's master \(1 vcpu, 64 MiB\) \(\d+s\)/);
    assert.ok(drewProgress(seeded.out));
    assert.match(seeded.out, /\(2, '/, 'the result follows the erased line');
  });
});
