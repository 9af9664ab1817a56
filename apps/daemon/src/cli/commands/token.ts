// sf token: API tokens for people and tools, each with a role (read < operate < admin) and a name the
// operation log records. create prints the secret once; list never shows one; revoke takes effect at once.
import { SfError } from '../../common/errors.ts';
import { call } from '../../common/sfmd-client.ts';
import { TOKEN_ROLES, type TokenRole } from '../../common/states.ts';
import { parseLifetime } from '../../master/tokens.ts';
import type { Command } from '../command.ts';
import { renderTable } from '../output.ts';

const USAGE = 'sf token create NAME --role read|operate|admin [--expires 30d] | sf token list | sf token revoke NAME';

function roleOf(value: unknown): TokenRole {
  if (typeof value !== 'string') throw new SfError('BAD_INPUT', `give the token a role: --role ${TOKEN_ROLES.join('|')}`);
  if (!(TOKEN_ROLES as readonly string[]).includes(value)) {
    throw new SfError('BAD_INPUT', `--role ${value}: the roles are ${TOKEN_ROLES.join(', ')} (each may do what the ones before it may)`);
  }
  return value as TokenRole;
}

function nameArg(args: string[], action: string): string {
  const name = args[1];
  if (!name) throw new SfError('BAD_INPUT', `missing NAME: sf token ${action} NAME`);
  return name;
}

export const token: Command = {
  name: 'token',
  summary: 'Make, list and revoke API tokens (roles read, operate, admin); the operation log names each call by its token.',
  usage: USAGE,
  description:
    'read may look at everything; operate may also seed, clone, merge, kill and shut down; admin may also manage tokens and ' +
    "repair the record. A token's secret is printed once, by create. A revoked token opens nothing from that moment on, " +
    "open dashboards included. The admin token sfmd made at first start is the one named 'admin'. Needs an admin token.",
  options: {
    role: { type: 'string', value: 'ROLE', description: 'create: read, operate or admin' },
    expires: { type: 'string', value: 'LIFETIME', description: 'create: it stops working after this long, e.g. 30d, 12h, 45m' },
  },
  examples: [
    'sf token create alice --role operate --expires 30d',
    'sf token create prometheus --role read',
    'sf token list --json',
    'sf token revoke alice',
  ],
  async run(ctx, args, values) {
    const action = args[0] ?? 'list';
    if (action === 'create') {
      const name = nameArg(args, action);
      const role = roleOf(values.role);
      const lifetimeMs = typeof values.expires === 'string' ? parseLifetime(values.expires) : null;
      const made = await call(ctx.url, () =>
        ctx.client().token.create.mutate({ name, role, ...(lifetimeMs === null ? {} : { expiresInS: Math.round(lifetimeMs / 1000) }) }),
      );
      ctx.out.result(made, () =>
        [
          `token '${made.token.name}' (role ${made.token.role}${made.token.expiresAt ? `, expires ${made.token.expiresAt}` : ''}) made.`,
          'Its secret, shown this once (give it as --token, SNOWFLOCK_TOKEN, or at the dashboard sign-in):',
          made.secret,
        ].join('\n'),
      );
      return;
    }
    if (action === 'list') {
      const list = await call(ctx.url, () => ctx.client().token.list.query());
      ctx.out.result(list, () =>
        renderTable(list, [
          { header: 'NAME', value: (t) => t.name },
          { header: 'ROLE', value: (t) => t.role },
          { header: 'STATE', value: (t) => t.state },
          { header: 'CREATED', value: (t) => t.createdAt },
          { header: 'EXPIRES', value: (t) => t.expiresAt },
          { header: 'LAST USED', value: (t) => t.lastUsedAt },
        ]),
      );
      return;
    }
    if (action === 'revoke') {
      const name = nameArg(args, action);
      const revoked = await call(ctx.url, () => ctx.client().token.revoke.mutate({ name }));
      ctx.out.result(revoked, () => `token '${revoked.name}' revoked at ${revoked.revokedAt}: it opens nothing any more`);
      return;
    }
    throw new SfError('BAD_INPUT', `unknown action '${action}': ${USAGE}`);
  },
};
