// sfmd's OpenAPI 3.1 document (served at /openapi.json), built at run time from the router itself: each
// procedure's zod input, its output schema (outputs.ts), its caller kind, the token role it declares and the
// error table's codes.
import type { inferRouterOutputs } from '@trpc/server';
import { z } from 'zod';
import { ERROR_CODES, ERROR_TABLE, type ErrorCode } from '../../common/errors.ts';
import { DEFAULT_MASTER_PORT } from '../../common/ports.ts';
import { SNOWFLOCK_VERSION } from '../../common/version.ts';
import { DOMAIN_HEADER } from './context.ts';
import { type ProcedurePath, procedureOutputs } from './outputs.ts';
import { PROCEDURE_DOCS } from './procedure-docs.ts';
import { type AppRouter, appRouter } from './router.ts';
import { domainReadProcedure, type ProcedureMeta, readProcedure } from './trpc.ts';
import type { TokenRole } from '../store/states.ts';

// ---- the outputs documented must be the router's: tsc fails here when a procedure's answer changes ----

type Outputs = inferRouterOutputs<AppRouter>;
type OutputAt<P extends string> = P extends `${infer A}.${infer B}`
  ? A extends keyof Outputs
    ? B extends keyof Outputs[A]
      ? Outputs[A][B]
      : never
    : never
  : P extends keyof Outputs
    ? Outputs[P]
    : never;
type Documented<P extends ProcedurePath> = z.output<(typeof procedureOutputs)[P]>;
/** Procedures whose real answer does not fit the schema documented for it (a field changed or was added). */
type Misdocumented = { [P in ProcedurePath]: [OutputAt<P>] extends [Documented<P>] ? never : P }[ProcedurePath];
/** Procedures whose documented schema is looser than the real answer (a field missing, or wider than it is). */
type Incomplete = { [P in ProcedurePath]: [Documented<P>] extends [OutputAt<P>] ? never : P }[ProcedurePath];
// Documented more loosely on purpose: a finding's kind (a type-only union) and checkSeed's `never[]` as an array.
type LooselyDocumented = 'doctor.check' | 'doctor.repair' | 'dashboard.checkSeed' | 'dashboard.cluster';
const outputsFit: [Misdocumented] extends [never] ? true : { misdocumented: Misdocumented } = true;
const outputsCovered: [Exclude<Incomplete, LooselyDocumented>] extends [never]
  ? true
  : { incomplete: Exclude<Incomplete, LooselyDocumented> } = true;
void outputsFit;
void outputsCovered;

// ---- procedures as the router holds them ----

type Kind = 'public' | 'token' | 'domain';
interface ProcedureDef {
  type: 'query' | 'mutation' | 'subscription';
  inputs: z.ZodType[];
  middlewares: unknown[];
  meta?: ProcedureMeta;
}

const TOKEN_GUARD = (readProcedure as unknown as { _def: ProcedureDef })._def.middlewares.at(-1);
const DOMAIN_GUARD = (domainReadProcedure as unknown as { _def: ProcedureDef })._def.middlewares.at(-1);

/**
 * Every procedure of the router: its path, query or mutation, zod input (null: none), who may call it and the
 * role a token needs for it (null: it declares none, which the role matrix test refuses).
 */
export function routerProcedures(): {
  path: string;
  type: ProcedureDef['type'];
  input: z.ZodType | null;
  kind: Kind;
  role: TokenRole | 'public' | null;
}[] {
  const procedures = (appRouter as unknown as { _def: { procedures: Record<string, { _def: ProcedureDef }> } })._def.procedures;
  return Object.entries(procedures).map(([path, { _def }]) => ({
    path,
    type: _def.type,
    input: _def.inputs[0] ?? null,
    kind: _def.middlewares.includes(DOMAIN_GUARD) ? 'domain' : _def.middlewares.includes(TOKEN_GUARD) ? 'token' : 'public',
    role: _def.meta?.role ?? null,
  }));
}

// ---- the document ----

const SECURITY: Record<Kind, Record<string, string[]>[]> = {
  public: [{}],
  token: [{ apiToken: [] }],
  // A guest call acts for one domain: a token for any (with the role the call declares), an sfld only for domains on its own host.
  domain: [
    { apiToken: [], domainIdentity: [] },
    { hostCredentials: [], domainIdentity: [] },
  ],
};

/** The codes each caller kind can meet whatever the procedure (the edge's bounds and limits, and the guards). */
const CODES_BY_KIND: Record<Kind, ErrorCode[]> = {
  public: ['BAD_INPUT', 'TOO_LARGE', 'RATE_LIMITED', 'INTERNAL'],
  token: ['BAD_INPUT', 'TOO_LARGE', 'RATE_LIMITED', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL', 'UNAVAILABLE', 'TIMEOUT'],
  domain: ['BAD_INPUT', 'TOO_LARGE', 'RATE_LIMITED', 'UNAUTHORIZED', 'FORBIDDEN', 'DOMAIN_UNKNOWN', 'INTERNAL', 'UNAVAILABLE'],
};

/** Codes a procedure raises itself (documentation of its failures; the table maps each to its HTTP status). */
const PROCEDURE_CODES: Partial<Record<string, ErrorCode[]>> = {
  'ticket.request': ['NOT_MASTER', 'NO_RESOURCES', 'HOST_LOST', 'TIMEOUT'],
  'ticket.list': ['NOT_MASTER'],
  'ticket.info': ['NOT_MASTER', 'TICKET_UNKNOWN'],
  'ticket.dispose': ['NOT_MASTER', 'TICKET_UNKNOWN', 'TICKET_STATE'],
  'clone.master': ['NOT_MASTER', 'TICKET_UNKNOWN', 'TICKET_STATE', 'HOST_LOST', 'KVM_UNAVAILABLE'],
  'clone.merge': ['NOT_MASTER', 'TICKET_UNKNOWN', 'TICKET_STATE'],
  'clone.join': ['NOT_MASTER', 'TICKET_UNKNOWN', 'TICKET_STATE', 'TIMEOUT'],
  'clone.exit': ['NOT_CLONE'],
  'cluster.seed': ['BAD_CONFIG', 'NO_RESOURCES', 'HOST_LOST', 'KVM_UNAVAILABLE'],
  'cluster.shutdown': ['NOT_MASTER', 'TICKET_STATE'],
  'cluster.get': ['CLUSTER_UNKNOWN'],
  'host.get': ['HOST_UNKNOWN'],
  'domain.console': ['DOMAIN_UNKNOWN', 'HOST_LOST'],
  'operations.get': ['OPERATION_UNKNOWN'],
  'dashboard.cluster': ['CLUSTER_UNKNOWN'],
  'dashboard.merge': ['CLUSTER_UNKNOWN', 'TICKET_UNKNOWN', 'TICKET_STATE'],
  'dashboard.kill': ['CLUSTER_UNKNOWN', 'DOMAIN_UNKNOWN'],
  'dashboard.shutdown': ['CLUSTER_UNKNOWN'],
  'dashboard.consoleInput': ['DOMAIN_UNKNOWN'],
  'token.create': ['TOKEN_EXISTS'],
  'token.revoke': ['TOKEN_UNKNOWN'],
};

/** The codes a procedure's caller can meet, in the error table's order. */
export function errorCodesOf(path: string, kind: Kind): ErrorCode[] {
  const codes = new Set([...CODES_BY_KIND[kind], ...(PROCEDURE_CODES[path] ?? [])]);
  return ERROR_CODES.filter((c) => codes.has(c));
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });
  return rest;
}

const errorEnvelope = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'code', 'data'],
      properties: {
        message: { type: 'string', description: 'what happened and what to do' },
        code: { type: 'integer', description: "tRPC's JSON-RPC code (e.g. -32600)" },
        data: {
          type: 'object',
          required: ['sfCode', 'code', 'httpStatus'],
          properties: {
            sfCode: { type: 'string', enum: ERROR_CODES, description: "Snowflock's error code: the one to act on" },
            code: { type: 'string', description: "tRPC's name of the code (e.g. NOT_FOUND)" },
            httpStatus: { type: 'integer' },
            path: { type: 'string', description: 'the procedure' },
          },
        },
      },
    },
  },
};

function errorResponses(codes: ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_TABLE[code].http, [...(byStatus.get(ERROR_TABLE[code].http) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: `error.data.sfCode: ${list.join(', ')}`,
        ...(list.includes('RATE_LIMITED')
          ? { headers: { 'retry-after': { description: 'seconds to wait', schema: { type: 'integer' } } } }
          : {}),
        content: {
          'application/json': {
            schema: {
              allOf: [{ $ref: '#/components/schemas/Error' }],
              properties: { error: { properties: { data: { properties: { sfCode: { enum: list } } } } } },
            },
          },
        },
      },
    ]),
  );
}

function operation(p: ReturnType<typeof routerProcedures>[number]) {
  const output = (procedureOutputs as Record<string, z.ZodType | undefined>)[p.path];
  const input = p.input ? jsonSchema(p.input, 'input') : null;
  const errorCodes = errorCodesOf(p.path, p.kind);
  const who = {
    public: 'anyone',
    token: `a token with role ${p.role} or above`,
    domain: `a domain (CLUSTER:VMID in ${DOMAIN_HEADER}), by its host's sfld or a token with role ${p.role} or above`,
  }[p.kind];
  return {
    operationId: p.path,
    tags: [p.path.includes('.') ? p.path.slice(0, p.path.indexOf('.')) : 'sfmd'],
    summary: (PROCEDURE_DOCS as Record<string, string | undefined>)[p.path] ?? p.path,
    description: `tRPC ${p.type} ${p.path}: ${p.type === 'query' ? 'GET with ?input=<JSON>' : 'POST with a JSON body'}; called by ${who}.`,
    'x-snowflock-caller': p.kind,
    'x-snowflock-role': p.role,
    'x-snowflock-errors': errorCodes,
    security: SECURITY[p.kind],
    parameters: [
      ...(p.kind === 'domain' ? [{ $ref: '#/components/parameters/Domain' }] : []),
      ...(p.type === 'query' && input
        ? [
            {
              name: 'input',
              in: 'query',
              required: !isOptionalInput(p.input),
              description: "the procedure's input as JSON, URL-encoded",
              content: { 'application/json': { schema: input } },
            },
          ]
        : []),
    ],
    ...(p.type === 'mutation'
      ? {
          requestBody: {
            required: input !== null && !isOptionalInput(p.input),
            description: input ? "the procedure's input" : 'none: send an empty body, still with content-type application/json',
            content: { 'application/json': { schema: input ?? { type: 'null' } } },
          },
        }
      : {}),
    responses: {
      '200': {
        description: 'the answer, in result.data',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['result'],
              properties: {
                result: {
                  type: 'object',
                  required: ['data'],
                  properties: { data: output ? jsonSchema(output, 'output') : { description: 'UNDOCUMENTED: add it to outputs.ts' } },
                },
              },
            },
          },
        },
      },
      ...errorResponses(errorCodes),
    },
  };
}

function isOptionalInput(input: z.ZodType | null): boolean {
  return input === null || input.safeParse(undefined).success;
}

const DESCRIPTION = `Snowflock's master daemon sfmd: the seed API (tickets, clone, merge, join, exit, shutdown) and the admin's.
The API is tRPC over HTTP; every procedure is one path:
- a query is \`GET /trpc/NAME?input=<URL-encoded JSON>\` (no input: no parameter);
- a mutation is \`POST /trpc/NAME\` with the input as a JSON body (\`content-type: application/json\`, always: with no input, an empty body).
The answer is \`{"result":{"data": ...}}\` with status 200; a failure is \`{"error":{"message","code","data":{"sfCode","code","httpStatus","path"}}}\`
with the HTTP status of its \`sfCode\` (the error table). Guest calls act for one domain named in the \`${DOMAIN_HEADER}\` header (CLUSTER:VMID):
a token (\`Authorization: Bearer\`; the first, admin, is in $SNOWFLOCK_HOME/admin.token; more with sf token create) may act for any domain,
an sfld only for its host's. Each procedure declares the token role it needs (x-snowflock-role: read < operate < admin).
Calls that wait (ticket.request with block, clone.join) hold the request open until done or timeoutMs.`;

let cached: string | null = null;

/** The document as an object (built once per process: the router does not change while it runs). */
export function openApiDocument(): Record<string, unknown> {
  return JSON.parse(openApiJson()) as Record<string, unknown>;
}

/** The document as the JSON sfmd serves. */
export function openApiJson(): string {
  cached ??= JSON.stringify(buildDocument());
  return cached;
}

function buildDocument() {
  const paths: Record<string, unknown> = {};
  for (const p of routerProcedures()) {
    if (p.type === 'subscription') continue;
    paths[`/trpc/${p.path}`] = { [p.type === 'query' ? 'get' : 'post']: operation(p) };
  }
  paths['/openapi.json'] = {
    get: { operationId: 'openapi', summary: 'this document', security: [{}], responses: { '200': { description: 'OpenAPI 3.1' } } },
  };
  paths['/healthz'] = {
    get: {
      operationId: 'healthz',
      summary: "sfmd's health (not rate-limited; for monitors)",
      security: [{}],
      responses: {
        '200': { description: '{ok: true, version, hostsOnline, hostsTotal, ...}' },
        '503': { description: 'database unavailable' },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'sfmd (Snowflock master daemon)', version: SNOWFLOCK_VERSION, description: DESCRIPTION },
    servers: [
      {
        url: `https://127.0.0.1:${DEFAULT_MASTER_PORT}`,
        description: "sfmd's default port (master_listen_port in sfmd.cfg); http:// when sfmd.cfg says tls = False",
      },
    ],
    paths,
    components: {
      schemas: { Error: errorEnvelope },
      parameters: {
        Domain: {
          name: DOMAIN_HEADER,
          in: 'header',
          required: true,
          description: 'CLUSTER:VMID: the domain a guest call acts for',
          schema: { type: 'string', pattern: '^\\d+:\\d+$' },
        },
      },
      securitySchemes: {
        apiToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'an API token (sf token create NAME --role read|operate|admin); the first-start admin one is in $SNOWFLOCK_HOME/admin.token',
        },
        hostCredentials: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: "an sfld's: 'SfHost NAME:SECRET' (the secret sfmd made for the host, $SNOWFLOCK_HOME/secrets/NAME.secret)",
        },
        domainIdentity: {
          type: 'apiKey',
          in: 'header',
          name: DOMAIN_HEADER,
          description: 'CLUSTER:VMID of the domain a guest call acts for',
        },
      },
    },
  };
}
