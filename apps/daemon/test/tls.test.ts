// sfmd's TLS as clients meet it: HTTPS by default with a certificate made at first start and pinned by its
// fingerprint, a wrong pin refused by sfld and by the CLI with both fingerprints named, a configured
// certificate used, and plain HTTP only when sfmd.cfg asks for it.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { snowflockPaths } from '../src/common/paths.ts';
import { certificateFingerprint } from '../src/common/pinned-tls.ts';
import { makeSelfSigned } from '../src/common/self-signed.ts';
import { startSfld } from '../src/local/sfld.ts';
import { startSfmd } from '../src/master/main.ts';
import { freePort, runSf } from './cli-runner.ts';
import { quietLog, soloSnowflock } from './in-process.ts';
import { NO_CLUSTER_NETWORK } from './one-host.ts';
import { tempHome } from './support.ts';

const WRONG = Array(32).fill('AB').join(':');

test('sfmd serves HTTPS by default: plain HTTP gets nothing, the pinned fingerprint gets answers, and it survives a restart', async (t) => {
  const solo = await soloSnowflock(t, 'sf-tls-');
  const paths = snowflockPaths(solo.home);
  assert.match(solo.url, /^https:/);
  assert.equal(solo.sfmd.fingerprint, certificateFingerprint(readFileSync(paths.tlsCert)));
  assert.equal(readFileSync(paths.fingerprint, 'utf8').trim(), solo.sfmd.fingerprint, 'clients on this machine read the pin here');
  assert.equal(statSync(paths.tlsKey).mode & 0o777, 0o600, 'the key is readable by its owner only');

  await assert.rejects(fetch(`http://127.0.0.1:${solo.sfmd.port}/healthz`, { signal: AbortSignal.timeout(5000) }));
  await assert.rejects(fetch(`${solo.url}/healthz`), 'an unpinned client refuses the self-signed certificate');
  const health = await solo.fetch(`${solo.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { ok: boolean }).ok, true);

  // The CLI on sfmd's machine finds URL and pin in the data directory; `sf fingerprint` shows the pin.
  const env = { SNOWFLOCK_HOME: solo.home, SNOWFLOCK_URL: solo.url };
  const state = await runSf(['state', '--json'], env);
  assert.equal(state.code, 0, state.stderr);
  const shown = await runSf(['fingerprint'], env);
  assert.equal(shown.stdout.trim(), solo.sfmd.fingerprint);
  assert.match(shown.stderr, /master_fingerprint = '/);
  const served = JSON.parse((await runSf(['fingerprint', '--served', '--json'], env)).stdout) as { fingerprint: string; matches: boolean };
  assert.deepEqual([served.fingerprint, served.matches], [solo.sfmd.fingerprint, true]);

  // A restart serves the same certificate: pins stay valid.
  await solo.sfmd.stop();
  const again = await startSfmd({ home: solo.home, port: 0, listen: '127.0.0.1', log: quietLog() });
  t.after(() => again.stop());
  assert.equal(again.fingerprint, solo.sfmd.fingerprint);
});

test('a wrong fingerprint is refused by the CLI over HTTP and socket.io (exit 3) and by sfld (no registration), each naming both fingerprints', async (t) => {
  const solo = await soloSnowflock(t, 'sf-tls-wrong-');
  const cli = await runSf(['state'], { SNOWFLOCK_HOME: solo.home, SNOWFLOCK_URL: solo.url, SNOWFLOCK_FINGERPRINT: WRONG.toLowerCase() });
  assert.equal(cli.code, 3, cli.stderr);
  assert.ok(cli.stderr.includes(solo.sfmd.fingerprint!), cli.stderr);
  assert.ok(cli.stderr.includes(WRONG), cli.stderr);
  assert.match(cli.stderr, /SNOWFLOCK_FINGERPRINT expects/);
  // socket.io (sf console, sfmpirun) is refused the same way, with the same words.
  const wrongEnv = { SNOWFLOCK_HOME: solo.home, SNOWFLOCK_URL: solo.url, SNOWFLOCK_FINGERPRINT: WRONG };
  const attach = await runSf(['console', '1:0', '--once'], wrongEnv);
  assert.equal(attach.code, 3, attach.stderr);
  assert.ok(attach.stderr.includes(solo.sfmd.fingerprint!) && attach.stderr.includes(WRONG), attach.stderr);

  writeFileSync(
    path.join(solo.home, 'sfld.cfg'),
    `hostname = 'solo'\nmaster_host = '127.0.0.1'\nmaster_port = ${solo.sfmd.port}\nlocal_listen_port = ${await freePort()}\n` +
      `master_fingerprint = '${WRONG.replaceAll(':', '')}'\n${NO_CLUSTER_NETWORK}`,
  );
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const sfld = await startSfld({ home: solo.home, log });
  t.after(() => sfld.stop());
  const refused = () => lines.find((l) => l.level >= 50 && l.msg.includes('presented a certificate'));
  for (let i = 0; i < 100 && !refused(); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1000)); // a few reconnection rounds: it stays out, and says so once
  assert.equal(sfld.isRegistered(), false);
  assert.equal((await solo.sfmd.svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } })).state, 'offline');
  const said = lines.filter((l) => l.level >= 50 && l.msg.includes('presented a certificate'));
  assert.equal(said.length, 1, 'said once, not at every retry');
  assert.ok(said[0]!.msg.includes(solo.sfmd.fingerprint!) && said[0]!.msg.includes(WRONG), said[0]!.msg);
  assert.match(said[0]!.msg, /master_fingerprint in .*sfld\.cfg expects/);
});

test('sfmd.cfg tls = False serves plain HTTP and keeps no fingerprint file; tls_cert/tls_key serve the configured pair', async (t) => {
  const plain = await soloSnowflock(t, 'sf-tls-off-', { sfmdCfg: 'tls = False' });
  assert.match(plain.url, /^http:/);
  assert.equal(plain.sfmd.fingerprint, null);
  assert.equal((await fetch(`${plain.url}/healthz`)).status, 200);
  assert.equal((await runSf(['fingerprint'], { SNOWFLOCK_HOME: plain.home })).code, 3, 'no certificate to show');

  const dir = tempHome('sf-tls-pair-');
  t.after(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
  const pair = makeSelfSigned(['sfmd.example']);
  writeFileSync(path.join(dir, 'site.crt'), pair.certPem);
  writeFileSync(path.join(dir, 'site.key'), pair.keyPem, { mode: 0o600 });
  const configured = await soloSnowflock(t, 'sf-tls-site-', {
    sfmdCfg: `tls_cert = '${path.join(dir, 'site.crt')}'\ntls_key = '${path.join(dir, 'site.key')}'`,
  });
  assert.equal(configured.sfmd.fingerprint, certificateFingerprint(pair.certPem));
  assert.equal((await configured.fetch(`${configured.url}/healthz`)).status, 200);
  const env = { SNOWFLOCK_HOME: configured.home, SNOWFLOCK_URL: configured.url };
  assert.equal((await runSf(['state', '--json'], env)).code, 0, 'the CLI pins the configured certificate from the data directory');
});
