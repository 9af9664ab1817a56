// Running as a service: `sf install-units` writes units systemd accepts (systemd-analyze verify, where
// installed), and a real sfmd logs JSON lines to stdout when that is journald's stream, to its rolled file
// when the launcher names one.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { execWord } from '../src/cli/systemd-units.ts';
import { json, runSf, SF_BIN, waitUntil } from './cli-runner.ts';
import { tempHome } from './support.ts';

interface Written {
  dir: string;
  files: string[];
}

test('sf install-units writes the three units, and systemd-analyze verify accepts them', { timeout: 30_000 }, async (t) => {
  const dir = tempHome('sf-units-');
  // A data directory with a space, a quote, % and $ in its name: each must reach the daemon literally.
  const home = path.join(dir, 'data 100% "$HOME"');
  t.after(() => spawnSync('rm', ['-rf', dir]));
  const written = await json<Written>(
    runSf(['install-units', '--prefix', path.join(dir, 'units'), '--user', 'daemon', '--home', home, '--json']),
  );
  assert.deepEqual(
    written.files.map((f) => path.basename(f)),
    ['snowflock-sfmd.service', 'snowflock-sfld.service', 'snowflock-web.service'],
  );
  const unit = (name: string) => readFileSync(path.join(written.dir, `snowflock-${name}.service`), 'utf8');
  for (const [name, args] of [
    ['sfmd', 'sfmd start --foreground'],
    ['sfld', 'sfld start --foreground'],
    ['web', 'web start --foreground --port 61709'],
  ] as const) {
    const text = unit(name);
    assert.ok(text.includes(`ExecStart=${execWord(process.execPath)} ${execWord(SF_BIN)} ${args} --home ${execWord(home)}\n`), text);
    assert.match(text, /^Restart=on-failure$/m);
    assert.match(text, /^WantedBy=multi-user\.target$/m);
  }
  assert.match(unit('sfmd'), /^User=daemon$/m);
  assert.match(unit('web'), /^User=daemon$/m);
  assert.doesNotMatch(unit('sfld'), /^User=/m, 'sfld runs as root (bridges, taps, /dev/kvm)');
  assert.match(unit('sfld'), /^After=network-online\.target snowflock-sfmd\.service$/m);
  assert.equal(execWord('/a b/100%/$x'), '"/a b/100%%/$$x"');

  const bad = await runSf(['install-units', '--prefix', path.join(dir, 'u2'), '--user', 'x\nExecStartPre=/bin/true']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--user must be a user name or id/);

  const analyze = spawnSync('systemd-analyze', ['verify', ...written.files], { encoding: 'utf8' });
  if (analyze.error) {
    console.log(`# systemd-analyze verify skipped: ${analyze.error.message} (systemd is not installed here)`);
    return;
  }
  assert.equal(analyze.status, 0, `systemd-analyze verify: ${analyze.stderr}${analyze.stdout}`);
  assert.doesNotMatch(analyze.stderr, /error|unknown|ignoring/i, analyze.stderr);
});

/** Runs sfmd in the foreground with `env`, stdout to `stdoutFile`; waits for it to start, then stops it. */
async function runSfmd(home: string, stdoutFile: string, env: (stdout: { dev: number; ino: number }) => NodeJS.ProcessEnv): Promise<void> {
  writeFileSync(path.join(home, 'sfmd.cfg'), "cluster_hosts = [{'host': 'solo', 'cpus': 1, 'RAM': 1 << 30}]\n");
  const fd = openSync(stdoutFile, 'a');
  const child = spawn(process.execPath, [SF_BIN, 'sfmd', 'start', '--foreground', '--port', '0', '--home', home], {
    stdio: ['ignore', fd, 'inherit'],
    env: { ...process.env, SNOWFLOCK_LOG_LEVEL: 'info', SNOWFLOCK_LISTEN: '127.0.0.1', ...env(fstatSync(fd)) },
  });
  closeSync(fd);
  const logs = () => [stdoutFile, ...readdirSync(path.join(home, 'logs')).map((f) => path.join(home, 'logs', f))];
  const exited = once(child, 'exit');
  try {
    await waitUntil('sfmd to start', 20_000, async () =>
      logs().some((f) => existsSync(f) && readFileSync(f, 'utf8').includes('"sfmd started"')),
    );
  } finally {
    child.kill('SIGTERM'); // also when it never said it started: a leftover sfmd would hold the test open
    await exited;
  }
}

test("sfmd's log: JSON lines on journald's stdout under systemd, a rolled file when the launcher names one", {
  timeout: 60_000,
}, async (t) => {
  const home = tempHome('sf-logs-');
  t.after(() => spawnSync('rm', ['-rf', home]));
  const logFile = path.join(home, 'logs', 'sfmd.log');
  const journal = path.join(home, 'journal.out');

  // As systemd runs it: JOURNAL_STREAM names the stream on its stdout (and the file setting is ignored).
  await runSfmd(home, journal, ({ dev, ino }) => ({
    JOURNAL_STREAM: `${dev}:${ino}`,
    INVOCATION_ID: 'a'.repeat(32),
    SNOWFLOCK_LOG_FILE: logFile,
  }));
  // (The first start also prints its admin token once and its certificate's fingerprint, as plain text.)
  const lines = readFileSync(journal, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('admin token') && !l.startsWith('certificate SHA-256'));
  assert.ok(lines.length >= 2 && lines.every((l) => typeof (JSON.parse(l) as { msg?: string }).msg === 'string'), 'JSON lines on stdout');
  assert.ok(lines.some((l) => l.includes('"sfmd started"')) && lines.some((l) => l.includes('"sfmd stopped"')));
  assert.ok(!existsSync(logFile), 'no log file under journald');

  // As the background launcher runs it: its own file, rolled at 200 bytes (sfmd's start and stop lines take more).
  const other = path.join(home, 'other.out');
  await runSfmd(home, other, () => ({ SNOWFLOCK_LOG_FILE: logFile, SNOWFLOCK_LOG_MAX_BYTES: '200', SNOWFLOCK_LOG_KEEP: '3' }));
  assert.ok(existsSync(`${logFile}.1`), 'the file rolled');
  const kept = [logFile, `${logFile}.1`, `${logFile}.2`, `${logFile}.3`].filter(existsSync);
  for (const f of kept) {
    const text = readFileSync(f, 'utf8');
    assert.ok(text.length <= 200 || text.split('\n').length === 2, `${f} is within its size, or one longer line`);
  }
  const all = kept.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean));
  assert.ok(all.some((l) => l.includes('"sfmd stopped"')));
  assert.doesNotMatch(readFileSync(other, 'utf8'), /"sfmd started"/, 'the log lines went to the file, not stdout');
});
