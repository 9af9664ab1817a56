// The wire contract as its receivers apply it: sfld refuses a malformed command with BAD_INPUT that
// names the field, sfmd's checks drop malformed reports, and the enums are the store's own lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfError } from './errors.ts';
import { MAX_VMID } from './domain-ref.ts';
import { DOMAIN_STATES, HOST_STATES, OPERATION_STATUSES, REPORTED_VM_STATES } from './states.ts';
import {
  consoleChunkSchema,
  domainFiguresBatchSchema,
  domainStateEventSchema,
  domainStateReportSchema,
  hostCommandSchemas,
  hostMetricsSchema,
  hostRegistrationSchema,
  hostStateEventSchema,
  operationProgressEventSchema,
  parseHostCommand,
  parseWire,
  reportedVmStateSchema,
} from './wire.ts';

const forkSpec = { clusterid: 1, vmid: 0, ticket: 't'.repeat(36), nclones: 2, clones: [{ vmid: 1 }, { vmid: 2 }], serve: null };
const remoteSpec = {
  clusterid: 1,
  ticket: 't'.repeat(36),
  nclones: 2,
  descriptor: { host: 'alpha', port: 7001, key: '00000000000000aa', token: 'ab'.repeat(32) },
  interface: 'beta',
  clones: [{ vmid: 2 }],
};

function refusedNaming(field: string, command: string) {
  return (err: unknown) => err instanceof SfError && err.code === 'BAD_INPUT' && err.message.startsWith(`malformed ${command}: ${field}: `);
}

test('well-formed commands pass, unchanged', () => {
  assert.deepEqual(parseHostCommand('domain:fork', forkSpec), forkSpec);
  assert.deepEqual(parseHostCommand('domain:clone-remote', remoteSpec), remoteSpec);
  const boot = { clusterid: 1, vmid: 0, vcpus: 1, memoryMiB: 64, image: '/guests/hello.elf', args: '' };
  assert.deepEqual(parseHostCommand('domain:boot', boot), boot);
  const input = { clusterid: 1, vmid: 0, data: Buffer.from('ls\n') };
  assert.deepEqual(parseHostCommand('domain:input', input), input);
});

test('a malformed command is refused with BAD_INPUT naming the field', () => {
  assert.throws(
    () => parseHostCommand('domain:fork', { ...forkSpec, clones: [{ vmid: 0 }] }),
    refusedNaming('clones.0.vmid', 'domain:fork'),
  );
  assert.throws(
    () => parseHostCommand('domain:fork', { ...forkSpec, serve: { mode: 'broadcast', interface: 'a' } }),
    refusedNaming('serve.mode', 'domain:fork'),
  );
  assert.throws(
    () => parseHostCommand('domain:clone-remote', { ...remoteSpec, descriptor: { ...remoteSpec.descriptor, token: 'short' } }),
    refusedNaming('descriptor.token', 'domain:clone-remote'),
  );
  assert.throws(
    () => parseHostCommand('domain:clone-remote', { ...remoteSpec, descriptor: { ...remoteSpec.descriptor, key: '../etc/passwd' } }),
    refusedNaming('descriptor.key', 'domain:clone-remote'),
  );
  assert.throws(
    () => parseHostCommand('domain:fork', { ...forkSpec, serve: { mode: 'unicast', interface: 'a' } }),
    refusedNaming('serve.handoff', 'domain:fork'),
  );
  assert.throws(
    () => parseHostCommand('domain:clone-remote', { ...remoteSpec, clones: [] }),
    refusedNaming('clones', 'domain:clone-remote'),
  );
  assert.throws(
    () => parseHostCommand('domain:boot', { clusterid: 1, vmid: 0, vcpus: 65, memoryMiB: 64, image: 'x', args: '' }),
    refusedNaming('vcpus', 'domain:boot'),
  );
  assert.throws(() => parseHostCommand('domain:destroy', { clusterid: 1, vmid: MAX_VMID + 1 }), refusedNaming('vmid', 'domain:destroy'));
  assert.throws(
    () => parseHostCommand('domain:input', { clusterid: 1, vmid: 0, data: Buffer.alloc(65537) }),
    refusedNaming('data', 'domain:input'),
  );
  assert.throws(() => parseHostCommand('domain:input', { clusterid: 1, vmid: 0, data: 'text' }), refusedNaming('data', 'domain:input'));
  // A payload that is not an object at all has no field to name.
  assert.throws(
    () => parseHostCommand('domain:console-replay', null),
    (err: unknown) => err instanceof SfError && err.code === 'BAD_INPUT' && /^malformed domain:console-replay: /.test(err.message),
  );
});

test('every command sfmd can send has a payload schema and an answer schema', () => {
  for (const [command, { payload, value }] of Object.entries(hostCommandSchemas)) {
    assert.ok(payload.safeParse !== undefined && value.safeParse !== undefined, command);
  }
  assert.deepEqual(hostCommandSchemas['domain:boot'].value.parse({ state: 'exited' }), { state: 'exited' });
  assert.equal(hostCommandSchemas['domain:boot'].value.safeParse({ state: 'created' }).success, false, 'not a state the record knows');
});

test("a fork's answer may carry the sfld's stage timings; an older sfld's answer without them still passes", () => {
  const answer = { clones: [{ vmid: 1, ok: true, error: null }], pauseMs: 0.4, descriptorBytes: 8192, fromShells: 1, served: null };
  const timing = { networkMs: 0.1, snapshotMs: 0.5, shellsMs: 0, createMs: 1.2, startMs: 0.3, serveMs: 0 };
  const schema = hostCommandSchemas['domain:fork'].value;
  assert.deepEqual(schema.parse(answer), answer);
  assert.deepEqual(schema.parse({ ...answer, timing }), { ...answer, timing });
  assert.equal(schema.safeParse({ ...answer, timing: { ...timing, startMs: -1 } }).success, false, 'no negative stage');
  assert.equal(schema.safeParse({ ...answer, timing: { snapshotMs: 1 } }).success, false, 'all stages or none');
});

test('malformed reports fail their schemas (sfmd drops them)', () => {
  const report = { clusterid: 7, vmid: 0, state: 'exited', exitCode: 0, reason: null };
  assert.ok(domainStateReportSchema.safeParse(report).success);
  for (const bad of [
    { ...report, state: 'exploded' },
    { ...report, vmid: -1 },
    { ...report, exitCode: 1.5 },
    { ...report, reason: 'x'.repeat(4097) },
    null,
  ]) {
    assert.equal(domainStateReportSchema.safeParse(bad).success, false, JSON.stringify(bad)?.slice(0, 60));
  }
  assert.equal(hostMetricsSchema.safeParse({ cpuUtilization: 'lots' }).success, false);
  const figures = {
    clusterid: 1,
    vmid: 1,
    faults: 1,
    pagesFetched: 1,
    zeroPages: 0,
    prefetched: 0,
    freshHints: 0,
    present: 1,
    faultP50Ns: 10,
    faultP99Ns: 20,
    multicastBytes: null,
  };
  assert.ok(domainFiguresBatchSchema.safeParse({ sampledAt: 1, domains: [figures] }).success);
  assert.equal(domainFiguresBatchSchema.safeParse({ sampledAt: 1, domains: [{ ...figures, faults: -1 }] }).success, false);
  assert.equal(domainFiguresBatchSchema.safeParse({ sampledAt: Infinity, domains: [] }).success, false);
  assert.equal(consoleChunkSchema.safeParse({ clusterid: 1, vmid: 0, data: Buffer.alloc(65537) }).success, false);
});

test('a registration is refused naming the field', () => {
  assert.throws(
    () => parseWire(hostRegistrationSchema, { version: 'x', cpus: 1e12 }, 'registration from solo'),
    (err: unknown) => err instanceof SfError && err.code === 'BAD_INPUT' && /^malformed registration from solo: cpus: /.test(err.message),
  );
});

test('the wire enums are the state lists themselves', () => {
  assert.deepEqual(reportedVmStateSchema.options, [...REPORTED_VM_STATES]);
  assert.deepEqual(domainStateEventSchema.shape.state.options, [...DOMAIN_STATES]);
  assert.deepEqual(hostStateEventSchema.shape.state.options, [...HOST_STATES]);
  assert.deepEqual(operationProgressEventSchema.shape.status.options, [...OPERATION_STATUSES]);
  for (const s of REPORTED_VM_STATES) assert.ok((DOMAIN_STATES as readonly string[]).includes(s), `${s} is a record state too`);
});
