// sf config check reads each of the three config files with its reader's parser: what sfmd and sfld write at
// first start passes, a broken file fails with exit 3 and its file, line and key, and nothing is started.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { json, runSf } from '../../../test/cli-runner.ts';
import { tempHome } from '../../../test/support.ts';
import { defaultSfldCfg, defaultSfmdCfg } from '../default-configs.ts';
import { detectConfigKind } from './config.ts';

const dir = tempHome('sf-config-check-');
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const full = path.join(dir, name);
  writeFileSync(full, text);
  return full;
}

test('the configs sfmd and sfld write at first start, and a seed file, check as valid (exit 0)', async () => {
  const sfmd = file('sfmd.cfg', defaultSfmdCfg('node1', 4, 8 * 2 ** 30));
  const sfld = file('node2.cfg', defaultSfldCfg('node2', 'master.example'));
  const seed = file('hello.cfg', "kernel = 'hello.elf'\nvcpus = 2\nmemory = 64\n");
  const m = await json<{ ok: boolean; kind: string; config: { clusterHosts: { name: string }[] } }>(
    runSf(['config', 'check', sfmd, '--json']),
  );
  assert.equal(m.kind, 'sfmd');
  assert.deepEqual(
    m.config.clusterHosts.map((h) => h.name),
    ['node1'],
  );
  const l = await json<{ kind: string; config: { hostname: string; masterHost: string } }>(runSf(['config', 'check', sfld, '--json']));
  assert.deepEqual([l.kind, l.config.hostname, l.config.masterHost], ['sfld', 'node2', 'master.example']);
  const s = await runSf(['config', 'check', seed]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /hello\.cfg: a valid sfseed\.cfg: 2 vcpus, 64 MiB/);
});

test('a broken file fails with BAD_CONFIG (exit 3) naming its file, line and key', async () => {
  const cases: [string, string, string[], RegExp][] = [
    [
      'bad-sfmd.cfg',
      "clusterid = 1\ncluster_hosts = [\n  {'host': 'a', 'cpus': 0, 'RAM': 1 << 30},\n]\n",
      [],
      /bad-sfmd\.cfg:3: cluster_hosts\[0\]\.cpus: expected a positive integer, got 0/,
    ],
    ['node3.cfg', "hostname = 'n3'\n\nmaster_port = 'x'\n", ['--kind', 'sfld'], /node3\.cfg:3: master_port: expected a port number/],
    ['big-seed.cfg', "kernel = 'a.elf'\nmemory = 64\nvcpus = 99\n", [], /big-seed\.cfg:3: vcpus: expected an integer from 1 to 32, got 99/],
  ];
  for (const [name, text, extra, message] of cases) {
    const r = await runSf(['config', 'check', file(name, text), ...extra]);
    assert.equal(r.code, 3, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const r = await runSf(['config', 'check', path.join(dir, 'missing-sfmd.cfg')]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /does not exist/);
});

test("a file's kind comes from its name, else from a setting only that kind has; else --kind is asked for", async () => {
  assert.equal(await detectConfigKind(file('a-sfmd.cfg', 'x = 1\n')), 'sfmd');
  assert.equal(await detectConfigKind(file('node9.cfg', "hostname = 'n9'\n")), 'sfld');
  assert.equal(await detectConfigKind(file('job.cfg', 'memory = 64\n')), 'sfseed');
  await assert.rejects(detectConfigKind(file('other.cfg', 'x = 1\n')), /pass --kind sfmd\|sfld\|sfseed/);
});
