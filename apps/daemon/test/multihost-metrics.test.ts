// /metrics across namespaced hosts: after align splits over clones on two hosts, the master's host shows
// its memserver's requests, bytes and datagrams, the other host its page source's bytes, mirror lookups
// and its clones' faults, and sfmd the fork; every endpoint parses (test/prometheus-text.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { ALIGN_RESULT, cannotRunHarness, domains, masterOutput, seed, upHosts } from './harness.ts';
import { scrape } from './prometheus-text.ts';
import { snowflockPaths } from '../src/common/paths.ts';
import { sfmdTransport } from '../src/common/pinned-tls.ts';
import { homeTrust } from '../src/common/sfmd-trust.ts';

const SFLD_PORT = 0xc01f; // scripts/hosts.mjs gives every sfld the classic port in its own namespace

test('memserver, page-source and mirror figures move on the hosts that served and fetched pages', { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { status, home, env } = await upHosts(t, 'mm', { count: 2, cpus: 3, ramGiB: 4, networkMode: 'unicast' });
  const clusterid = await seed(env, home, guestImage('align'), 'queries=12 db=32 clones=4');
  assert.match(await masterOutput(env, clusterid), ALIGN_RESULT);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const masterHost = rows.find((d) => d.domain === `${clusterid}:0`)!.host;
  const remote = rows.find((d) => d.host !== masterHost)?.host;
  assert.ok(remote, `some clones ran on the other host: ${JSON.stringify(rows)}`);

  const served = await scrape(`http://${masterHost}:${SFLD_PORT}/metrics`);
  const fetched = await scrape(`http://${remote}:${SFLD_PORT}/metrics`);
  const figures = {
    memserverRequests: served.value('snowflock_memserver_requests_total')!,
    memserverBytes: served.value('snowflock_memserver_sent_bytes_total')!,
    unicastDatagrams: served.value('snowflock_memserver_datagrams_total', { delivery: 'unicast' })!,
    sourceBytes: fetched.value('snowflock_page_source_received_bytes_total')!,
    mirrorLookups:
      fetched.value('snowflock_mirror_lookups_total', { result: 'hit' })! +
      fetched.value('snowflock_mirror_lookups_total', { result: 'miss' })!,
    remoteFaults: fetched.value('snowflock_page_faults_total')!,
    remoteTimed: fetched.histogramCount('snowflock_page_fault_duration_seconds')!,
  };
  console.log(`# ${JSON.stringify(figures)}`);
  assert.ok(figures.memserverRequests > 0 && figures.memserverBytes > 0 && figures.unicastDatagrams > 0, 'the memserver served pages');
  assert.equal(served.value('snowflock_memservers_running'), 0, 'it stopped with its master');
  assert.ok(figures.sourceBytes > 0 && figures.sourceBytes <= figures.memserverBytes, 'the other host received what was sent, at most');
  assert.ok(figures.mirrorLookups > 0);
  assert.ok(figures.remoteFaults > 0 && figures.remoteTimed > 0);
  assert.equal(fetched.value('snowflock_host_vms', { state: 'running' }), 0);

  const token = readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
  const sfmd = await scrape(`${status.sfmd.url}/metrics`, token, sfmdTransport(status.sfmd.url, homeTrust(snowflockPaths(home))).fetch);
  assert.equal(sfmd.value('snowflock_hosts', { state: 'online' }), 2);
  assert.ok(sfmd.value('snowflock_operations_total', { kind: 'clone.master', outcome: 'succeeded' })! >= 1);
});
