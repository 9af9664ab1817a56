// /metrics of a real sfmd and sfld around a clone run: both parse as Prometheus text (a parser apart
// from prom-client, held to HELP/TYPE, numbers and histogram rules), the record's states, operations,
// allocator decisions and the clones' page faults move, and the host's totals outlive the VMs that made them.
// sfmd's access setting: the admin token by default, 'open' and 'off' as sfmd.cfg says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ENDED_DOMAIN_STATES } from '../src/common/states.ts';
import { seedCluster } from '../src/master/clusters.ts';
import { waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { soloSnowflock } from './in-process.ts';
import { scrape, type Scrape } from './prometheus-text.ts';

const DASHBOARD = new URL('../../../deploy/grafana/snowflock.json', import.meta.url);

// solo has 2 CPUs: the master holds one, its clone gets the other.
const CLONES = 1;

test('a clone run moves sfmd and sfld metrics, and both parse', { timeout: 120_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const solo = await soloSnowflock(t, 'sf-metrics-', { sfld: true });
  const { svc } = solo.sfmd;
  const sfmdUrl = `${solo.url}/metrics`;
  const sfldUrl = `http://127.0.0.1:${solo.sfld!.localPort}/metrics`;

  const noToken = await solo.fetch(sfmdUrl);
  assert.equal(noToken.status, 401);
  assert.match(((await noToken.json()) as { error: { message: string } }).error.message, /API token as a bearer.*metrics = 'open'/);

  const before = { sfmd: await scrape(sfmdUrl, solo.sfmd.adminToken, solo.fetch), sfld: await scrape(sfldUrl) };
  for (const [who, url, token, send] of [
    ['sfmd', sfmdUrl, solo.sfmd.adminToken, solo.fetch],
    ['sfld', sfldUrl, undefined, fetch],
  ] as const) {
    const started = performance.now();
    const res = await send(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const bytes = (await res.text()).length;
    console.log(`# ${who} /metrics: ${bytes} bytes in ${(performance.now() - started).toFixed(1)} ms`);
  }
  assert.equal(before.sfmd.value('snowflock_hosts', { state: 'online' }), 1);
  assert.equal(before.sfld.value('snowflock_page_faults_total'), 0);
  assert.equal(before.sfld.families.get('snowflock_page_faults_total')?.samples[0]?.labels.host, 'solo');

  const seed = {
    name: null,
    diskImage: null,
    kernel: guestImage('memtouch'),
    args: `pages=2048 clones=${CLONES}`,
    vcpus: 1,
    memoryMiB: 64,
  };
  const { clusterid } = await seedCluster(svc, seed, 'test');
  // Mid-run: the master (at least) is counted as running on the host — unless the whole run fits between two
  // scrapes (they are cached up to 1 s), which a quiet machine manages; then the totals below still prove it ran.
  const during = await waitUntil('a running VM in sfld metrics, or the run over', 20_000, async () => {
    const s = await scrape(sfldUrl);
    if ((s.value('snowflock_host_vms', { state: 'running' }) ?? 0) >= 1) return s;
    const live = await svc.db.domain.count({ where: { cluster: { clusterid }, state: { notIn: [...ENDED_DOMAIN_STATES] } } });
    return live === 0 ? s : null;
  });
  assert.ok(during.value('snowflock_host_vms', { state: 'running' })! <= CLONES + 1);
  await waitUntil('the master and its clones to end', 60_000, async () => {
    const domains = await svc.db.domain.findMany({ where: { cluster: { clusterid } }, select: { state: true } });
    return domains.length === CLONES + 1 && domains.every((d) => (ENDED_DOMAIN_STATES as readonly string[]).includes(d.state));
  });
  // Read after every VM ended: what they did stays in the host's totals. Scrapes are cached up to 1 s.
  const after = await waitUntil('the VMs gone from sfld metrics', 5_000, async () => {
    const s = { sfmd: await scrape(sfmdUrl, solo.sfmd.adminToken, solo.fetch), sfld: await scrape(sfldUrl) };
    return s.sfld.value('snowflock_host_vms', { state: 'running' }) === 0 &&
      (s.sfmd.value('snowflock_domains', { state: 'exited' }) ?? 0) > 0
      ? s
      : null;
  });

  const grew = (s: { sfmd: Scrape; sfld: Scrape }, key: 'sfmd' | 'sfld', name: string, labels?: Record<string, string>) =>
    (s[key].value(name, labels) ?? 0) - (before[key].value(name, labels) ?? 0);
  // sfmd: the record, the operations and the allocator.
  assert.equal(after.sfmd.value('snowflock_clusters', { state: 'running' }) ?? 0, 0, 'the cluster ended with its master');
  assert.equal(grew(after, 'sfmd', 'snowflock_allocator_decisions_total', { decision: 'granted' }), 2, "the master's place and its ticket");
  assert.ok(grew(after, 'sfmd', 'snowflock_operations_total', { kind: 'cluster.seed', outcome: 'succeeded' }) === 1);
  assert.ok(grew(after, 'sfmd', 'snowflock_operations_total', { kind: 'ticket.request', outcome: 'succeeded' }) === 1);
  assert.equal(after.sfmd.histogramCount('snowflock_operation_duration_seconds', { kind: 'ticket.request', outcome: 'succeeded' }), 1);
  const ticketStates = after.sfmd.families.get('snowflock_tickets')!.samples.reduce((n, s) => n + s.value, 0);
  assert.equal(ticketStates, 1, 'the ticket is counted in exactly one state');
  assert.ok(after.sfmd.families.has('snowflock_sfmd_process_cpu_seconds_total'), "sfmd's process figures are there");
  // sfld: the clones' faults and their service times, kept after the VMs ended.
  const faults = after.sfld.value('snowflock_page_faults_total')!;
  const timed = after.sfld.histogramCount('snowflock_page_fault_duration_seconds')!;
  console.log(`# ${faults} page faults served, ${timed} timed; ${after.sfld.value('snowflock_clone_pages_fetched_total')} pages fetched`);
  assert.ok(faults > 0, 'lazy clones faulted');
  assert.ok(timed > 0 && timed <= faults, `the fault-time histogram counts served faults (${timed} of ${faults})`);
  assert.ok(grew(after, 'sfld', 'snowflock_clone_pages_fetched_total') > 0);
  assert.ok(grew(after, 'sfld', 'snowflock_host_cpu_seconds_total', { mode: 'user' }) > 0);
  assert.ok(after.sfld.value('snowflock_host_memory_bytes')! >= after.sfld.value('snowflock_host_memory_available_bytes')!);
  assert.ok(grew(after, 'sfld', 'snowflock_guest_calls_total', { outcome: 'sent' }) >= 2, 'the master asked for a ticket and cloned');

  // The Grafana dashboard asks only for series these endpoints give.
  const exposed = new Set([...after.sfmd.families.keys(), ...after.sfld.families.keys()]);
  const asked = new Set(readFileSync(DASHBOARD, 'utf8').match(/snowflock_[a-z0-9_]+/g));
  for (const name of asked) {
    const family = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(exposed.has(name) || exposed.has(family), `the dashboard's ${name} is exposed`);
  }
});

test("sfmd.cfg metrics: 'open' needs no token, 'off' refuses everyone", { timeout: 30_000 }, async (t) => {
  const open = await soloSnowflock(t, 'sf-metrics-open-', { sfmdCfg: "metrics = 'open'" });
  const scraped = await scrape(`${open.url}/metrics`, undefined, open.fetch);
  assert.equal(scraped.value('snowflock_hosts', { state: 'offline' }), 1, 'solo has no sfld here');

  const off = await soloSnowflock(t, 'sf-metrics-off-', { sfmdCfg: "metrics = 'off'" });
  for (const headers of [{}, { authorization: `Bearer ${off.sfmd.adminToken}` }] as Record<string, string>[]) {
    const res = await off.fetch(`${off.url}/metrics`, { headers });
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /metrics is off.*sfmd\.cfg/);
  }
});
