// The guest API's gateway listener: a caller's source address names its domain (host number - 1), anything not a
// VM of the cluster is refused before sfmd is asked, only guest procedures pass, and answers have tRPC's HTTP shape.
// The listener runs on loopback addresses standing in for a cluster's subnet; sfmd is a recording stand-in.
import assert from 'node:assert/strict';
import http from 'node:http';
import test from 'node:test';
import { quietLog } from '../../../test/in-process.ts';
import { SfError } from '../../common/errors.ts';
import type { SfmdClient } from '../../common/sfmd-client.ts';
import { newGuestCallCounts } from '../guest-call-limit.ts';
import { GuestApi } from './guest-api.ts';
import { callerOf } from './guest-api-identity.ts';

const SUBNET = { clusterid: 5, network: '127.0.5.0', prefixLength: 24, gateway: '127.0.5.254' };

test('a source address maps to its vmid in the cluster; other addresses are refused', () => {
  assert.deepEqual(callerOf(SUBNET, '127.0.5.254', '127.0.5.1'), { clusterid: 5, vmid: 0 });
  assert.deepEqual(callerOf(SUBNET, '::ffff:127.0.5.254', '::ffff:127.0.5.9'), { clusterid: 5, vmid: 8 });
  const refused = (local: string | undefined, remote: string | undefined, why: RegExp) =>
    assert.throws(
      () => callerOf(SUBNET, local, remote),
      (e: unknown) => e instanceof SfError && e.code === 'FORBIDDEN' && why.test(e.message),
    );
  refused('127.0.5.254', '127.0.6.1', /127\.0\.6\.1 is not on its network 127\.0\.5\.0\/24/);
  refused('127.0.5.254', '127.0.5.0', /not on its network/); // the network address
  refused('127.0.5.254', '127.0.5.255', /not on its network/); // broadcast
  refused('127.0.5.254', '127.0.5.254', /the gateway itself/);
  refused('127.0.5.254', '::1', /not on its network/);
  refused('127.0.5.254', undefined, /an unknown address/);
  refused('127.0.9.254', '127.0.5.1', /came in on 127\.0\.9\.254, not on the gateway/);
});

interface Answer {
  result?: { data: unknown };
  error: { message: string; data: { sfCode: string } };
}

interface Sent {
  domain: string;
  procedure: string;
  input: unknown;
}

/** sfmd's client as the listener uses it: records each call and answers like the real procedures would. */
function recordingClient(domain: string, sent: Sent[]): SfmdClient {
  const record = (procedure: string) => async (input: unknown) => {
    sent.push({ domain, procedure, input });
    if (domain.endsWith(':0')) return { procedure, granted: 1 };
    throw new SfError('NOT_MASTER', `${procedure} is for the master; this is clone ${domain}`);
  };
  const node = (name: string) => ({ query: record(name), mutate: record(name) });
  return {
    ticket: { request: node('ticket.request'), list: node('ticket.list'), info: node('ticket.info'), dispose: node('ticket.dispose') },
    clone: { master: node('clone.master'), merge: node('clone.merge'), join: node('clone.join'), exit: node('clone.exit') },
    cluster: { shutdown: node('cluster.shutdown') },
  } as unknown as SfmdClient;
}

function call(from: string, path: string, body: string | null, method = 'POST'): Promise<{ status: number; json: Answer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: SUBNET.gateway,
        port: api.port,
        path,
        method,
        localAddress: from,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Answer }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

let api: GuestApi;

test('the listener forwards as the calling VM and refuses what is not one of its VMs or a guest procedure', async (t) => {
  const sent: Sent[] = [];
  const counts = newGuestCallCounts();
  const port = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  api = new GuestApi({
    port,
    clientFor: (d) => ({ client: recordingClient(`${d.clusterid}:${d.vmid}`, sent), url: 'http://sfmd' }),
    log: quietLog(),
    limits: { ratePerSec: 0.01, burst: 1, maxDelayMs: 0 },
    counts: () => counts,
  });
  t.after(() => api.stop());
  await api.open(SUBNET);
  assert.deepEqual(api.clusters(), [5]);

  // The master (host number 1) asks for a ticket: sfmd hears it as 5:0, with the input as sent.
  const ok = await call('127.0.5.1', '/trpc/ticket.request', '{"nclones":2,"block":true}');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { result: { data: { procedure: 'ticket.request', granted: 1 } } });
  assert.equal(sent[0]!.domain, '5:0');
  assert.deepEqual({ ...(sent[0]!.input as object), pollMs: undefined }, { nclones: 2, block: true, pollMs: undefined });

  // A clone (host number 3 = vmid 2) calling a master's procedure: sfmd's refusal comes back with its code.
  const clone = await call('127.0.5.3', '/trpc/clone.merge', '{"ticket":null}');
  assert.equal(clone.status, 403);
  assert.equal(clone.json.error.data.sfCode, 'NOT_MASTER');
  assert.match(clone.json.error.message, /this is clone 5:2/);
  assert.equal(sent[1]!.domain, '5:2');

  // Not a VM of the cluster: refused here, sfmd never asked.
  const before = sent.length;
  for (const from of ['127.0.6.7', '127.0.5.254']) {
    const r = await call(from, '/trpc/ticket.list', null);
    assert.equal(r.status, 403, from);
    assert.equal(r.json.error.data.sfCode, 'FORBIDDEN', from);
  }
  // Not a guest procedure, not JSON, not a procedure path: refused with BAD_INPUT.
  const admin = await call('127.0.5.1', '/trpc/cluster.seed', '{}');
  assert.equal(admin.json.error.data.sfCode, 'BAD_INPUT');
  assert.match(admin.json.error.message, /no guest procedure 'cluster\.seed'/);
  assert.equal((await call('127.0.5.1', '/trpc/ticket.list', '{nope')).json.error.data.sfCode, 'BAD_INPUT');
  assert.equal((await call('127.0.5.1', '/healthz', null, 'GET')).json.error.data.sfCode, 'BAD_INPUT');
  assert.equal(sent.length, before, 'nothing refused here reached sfmd');

  // Each VM has its own bucket: the master's is spent (a burst of 1), another clone's is not.
  assert.equal((await call('127.0.5.1', '/trpc/ticket.list', null)).json.error.data.sfCode, 'RATE_LIMITED');
  assert.equal((await call('127.0.5.2', '/trpc/ticket.list', '', 'GET')).json.error.data.sfCode, 'NOT_MASTER');
  assert.deepEqual([counts.refused, counts.calls], [1, 3]);

  await api.close(5);
  assert.deepEqual(api.clusters(), []);
  await assert.rejects(call('127.0.5.1', '/trpc/ticket.list', null), /ECONNREFUSED/);
});
