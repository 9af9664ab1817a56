// sfmd's OpenAPI document: valid OpenAPI 3.1, one entry per router procedure (none missing, none stale), each with
// its input, output, errors and auth; and served at /openapi.json, where plain HTTP calls work as it says.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { ERROR_TABLE, type ErrorCode } from '../src/common/errors.ts';
import { openApiDocument, openApiJson, routerProcedures } from '../src/master/api/openapi.ts';
import { procedureOutputs } from '../src/master/api/outputs.ts';
import { soloSnowflock } from './in-process.ts';

interface Operation {
  operationId: string;
  summary: string;
  security: Record<string, string[]>[];
  parameters: { name?: string; in?: string; $ref?: string }[];
  requestBody?: unknown;
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
  'x-snowflock-caller': string;
  'x-snowflock-errors': ErrorCode[];
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

const doc = openApiDocument() as unknown as Doc;

test('the document is valid OpenAPI 3.1', async () => {
  assert.equal(doc.openapi, '3.1.0');
  const validator = new Validator();
  const result = await validator.validate(openApiDocument());
  assert.deepEqual(result.errors ?? [], []);
  assert.equal(result.valid, true);
  assert.equal(validator.version, '3.1');
});

test('every procedure of the router has its entry, with the method tRPC takes, and the document has no other', () => {
  const procedures = routerProcedures();
  assert.ok(procedures.length >= 30, `only ${procedures.length} procedures found: the router walk is broken`);
  for (const p of procedures) {
    const entry = doc.paths[`/trpc/${p.path}`];
    assert.ok(entry, `${p.path} has no entry in the OpenAPI document`);
    const method = p.type === 'query' ? 'get' : 'post';
    assert.deepEqual(Object.keys(entry), [method], `${p.path} is a ${p.type}: documented as ${Object.keys(entry)}`);
    assert.ok(Object.hasOwn(procedureOutputs, p.path), `${p.path} has no output schema in outputs.ts`);
    assert.doesNotMatch(JSON.stringify(entry), /UNDOCUMENTED/);
    assert.notEqual(entry[method]!.summary, p.path, `${p.path} has no sentence in procedure-docs.ts`);
  }
  const routed = new Set(procedures.map((p) => `/trpc/${p.path}`));
  const stale = Object.keys(doc.paths).filter((p) => p.startsWith('/trpc/') && !routed.has(p));
  assert.deepEqual(stale, [], 'documented procedures the router does not have');
  const extraOutputs = Object.keys(procedureOutputs).filter((p) => !routed.has(`/trpc/${p}`));
  assert.deepEqual(extraOutputs, [], 'output schemas of procedures the router does not have');
});

test("each entry names its callers' credentials and answers every error code with the table's HTTP status", () => {
  const byPath = (path: string) => Object.values(doc.paths[`/trpc/${path}`]!)[0]!;
  const request = byPath('ticket.request');
  assert.equal(request['x-snowflock-caller'], 'domain');
  assert.deepEqual(request.security, [
    { apiToken: [], domainIdentity: [] },
    { hostCredentials: [], domainIdentity: [] },
  ]);
  assert.ok(request.parameters.some((p) => p.$ref === '#/components/parameters/Domain'));
  assert.ok(request.requestBody, 'a mutation takes its input as a JSON body');
  assert.deepEqual(byPath('cluster.seed').security, [{ apiToken: [] }]);
  assert.deepEqual(byPath('health').security, [{}]);
  const domains = byPath('state.domains');
  assert.ok(
    domains.parameters.some((p) => p.name === 'input' && p.in === 'query'),
    'a query takes ?input=<JSON>',
  );
  assert.equal(domains.requestBody, undefined);

  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/trpc/')) continue;
    const op = Object.values(methods)[0]!;
    const codes = op['x-snowflock-errors'];
    assert.ok(codes.includes('BAD_INPUT') && codes.includes('INTERNAL'), `${path}: every call can fail with BAD_INPUT and INTERNAL`);
    for (const code of codes) {
      const answer = op.responses[String(ERROR_TABLE[code].http)];
      assert.ok(answer?.description.includes(code), `${path}: ${code} is not under HTTP ${ERROR_TABLE[code].http}`);
    }
  }
  assert.ok(byPath('clone.join')['x-snowflock-errors'].includes('NOT_MASTER'));
  assert.ok(byPath('clone.exit')['x-snowflock-errors'].includes('NOT_CLONE'));
  assert.ok(byPath('ticket.info')['x-snowflock-errors'].includes('TICKET_UNKNOWN'));
});

test('sfmd serves the document at /openapi.json, and plain HTTP calls work as it describes', { timeout: 60_000 }, async (t) => {
  const solo = await soloSnowflock(t, 'sf-openapi-');
  const served = await solo.fetch(`${solo.url}/openapi.json`);
  assert.equal(served.status, 200);
  assert.match(served.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(await served.text(), openApiJson());

  const token = (await import('node:fs')).readFileSync(`${solo.home}/admin.token`, 'utf8').trim();
  const admin = { authorization: `Bearer ${token}` };
  // A query: GET with ?input=<URL-encoded JSON>; the answer in result.data, in the documented shape.
  const input = encodeURIComponent(JSON.stringify({ all: true }));
  const domains = await solo.fetch(`${solo.url}/trpc/state.domains?input=${input}`, { headers: admin });
  assert.equal(domains.status, 200);
  procedureOutputs['state.domains'].parse(((await domains.json()) as { result: { data: unknown } }).result.data);
  const hosts = await solo.fetch(`${solo.url}/trpc/state.hosts`, { headers: admin });
  const hostList = procedureOutputs['state.hosts'].parse(((await hosts.json()) as { result: { data: unknown } }).result.data);
  assert.deepEqual(
    hostList.map((h) => h.name),
    ['solo'],
  );
  // A mutation without input: POST with an empty body, but still JSON's content type (tRPC refuses any other).
  const repair = await solo.fetch(`${solo.url}/trpc/doctor.repair`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
  });
  assert.equal(repair.status, 200, await repair.clone().text());
  procedureOutputs['doctor.repair'].parse(((await repair.json()) as { result: { data: unknown } }).result.data);
  // A failure: the documented envelope, the table's status and sfCode.
  const unknown = await solo.fetch(
    `${solo.url}/trpc/ticket.info?input=${encodeURIComponent(JSON.stringify({ ticket: crypto.randomUUID() }))}`,
    {
      headers: { ...admin, 'x-snowflock-domain': '9:0' },
    },
  );
  assert.equal(unknown.status, 404);
  const body = (await unknown.json()) as { error: { message: string; data: { sfCode: string; httpStatus: number; path: string } } };
  assert.equal(body.error.data.sfCode, 'DOMAIN_UNKNOWN');
  assert.equal(body.error.data.httpStatus, 404);
  assert.equal(body.error.data.path, 'ticket.info');
  assert.match(body.error.message, /no running domain 9:0/);
  const anonymous = await solo.fetch(`${solo.url}/trpc/cluster.seed`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { data: { sfCode: string } } }).error.data.sfCode, 'UNAUTHORIZED');
});
