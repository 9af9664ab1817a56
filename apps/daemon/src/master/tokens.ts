// API tokens: made (the secret shown once, only its sha256 kept), listed, revoked, and checked on every call
// against an in-memory copy of the table that each change here updates before it answers: a revoke counts
// from the next call, an expiry from its instant. The first-start admin token is the row named `admin`.
import { SfError } from '../common/errors.ts';
import { hashSecret, newSecret } from './auth.ts';
import type { MasterServices } from './services.ts';
import { TOKEN_ROLES, type TokenRole } from './store/states.ts';

/** Who a good token says the caller is. */
export interface TokenIdentity {
  id: string;
  name: string;
  role: TokenRole;
  expiresAt: Date | null;
}

interface TokenRow extends TokenIdentity {
  secretHash: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** The name of the token sfmd makes at its first start (its secret is in $SNOWFLOCK_HOME/admin.token). */
export const ADMIN_TOKEN_NAME = 'admin';
/** lastUsedAt is written at most this often per token: a busy token must not cost a write per call. */
export const LAST_USED_WRITE_MS = 60_000;
/** Longest lifetime a token may be given (`--expires`): ten years, past which a date is surely a typo. */
const MAX_LIFETIME_MS = 10 * 365 * 86_400_000;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function roleAtLeast(role: TokenRole, needed: TokenRole): boolean {
  return TOKEN_ROLES.indexOf(role) >= TOKEN_ROLES.indexOf(needed);
}

/** `30d`, `12h`, `45m` or `90s` as milliseconds, for `sf token create --expires`. */
export function parseLifetime(text: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  const unit = m ? { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'] : 0;
  const ms = m ? Number(m[1]) * unit : 0;
  if (!m || ms <= 0 || ms > MAX_LIFETIME_MS) {
    throw new SfError('BAD_INPUT', `--expires ${text}: give a lifetime like 30d, 12h, 45m or 90s (at most 3650d)`);
  }
  return ms;
}

/** A token as listed: never its secret or hash. */
export function tokenView(row: TokenRow, now = new Date()) {
  const state = row.revokedAt ? 'revoked' : row.expiresAt && row.expiresAt <= now ? 'expired' : 'active';
  return {
    name: row.name,
    role: row.role,
    state: state as 'active' | 'revoked' | 'expired',
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

export type TokenCheck = { token: TokenIdentity } | { reason: string };

export class TokenRegistry {
  #byHash: Map<string, TokenRow> | null = null;
  #loading: Promise<Map<string, TokenRow>> | null = null;
  readonly #revokedListeners = new Set<(name: string) => void>();

  constructor(private readonly svc: Pick<MasterServices, 'db' | 'log'>) {}

  /** The token this secret is, or why it opens nothing (unknown, revoked, expired). */
  async check(secret: string, now = new Date()): Promise<TokenCheck> {
    const row = (await this.#rows()).get(hashSecret(secret));
    if (!row) return { reason: 'the token is not known to sfmd' };
    if (row.revokedAt) return { reason: `token '${row.name}' was revoked at ${row.revokedAt.toISOString()}` };
    if (row.expiresAt && row.expiresAt <= now) return { reason: `token '${row.name}' expired at ${row.expiresAt.toISOString()}` };
    this.#noteUse(row, now);
    return { token: { id: row.id, name: row.name, role: row.role, expiresAt: row.expiresAt } };
  }

  /** Whether a token checked earlier still opens sfmd now (for connections that outlive one call). */
  stillValid(id: string, now = new Date()): TokenCheck {
    const row = [...(this.#byHash?.values() ?? [])].find((r) => r.id === id);
    if (!row) return { reason: 'the token is not known to sfmd' };
    if (row.revokedAt) return { reason: `token '${row.name}' was revoked` };
    if (row.expiresAt && row.expiresAt <= now) return { reason: `token '${row.name}' expired at ${row.expiresAt.toISOString()}` };
    return { token: { id: row.id, name: row.name, role: row.role, expiresAt: row.expiresAt } };
  }

  async create(name: string, role: TokenRole, lifetimeMs: number | null): Promise<{ secret: string; token: ReturnType<typeof tokenView> }> {
    if (!NAME.test(name)) {
      throw new SfError(
        'BAD_INPUT',
        `token name '${name}': use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`,
      );
    }
    const rows = await this.#rows();
    if ([...rows.values()].some((r) => r.name === name)) {
      throw new SfError(
        'TOKEN_EXISTS',
        `a token named '${name}' exists already (revoked ones keep their name for the log): pick another name`,
      );
    }
    const secret = newSecret();
    const row = await this.svc.db.token
      .create({
        data: { name, role, secretHash: hashSecret(secret), expiresAt: lifetimeMs === null ? null : new Date(Date.now() + lifetimeMs) },
      })
      .catch((err: unknown) => {
        // Two creates of one name at once: the table's unique name decides, and the second hears it plainly.
        if ((err as { code?: unknown }).code === 'P2002')
          throw new SfError('TOKEN_EXISTS', `a token named '${name}' exists already: pick another name`);
        throw err;
      });
    rows.set(row.secretHash, row);
    return { secret, token: tokenView(row) };
  }

  async list(): Promise<ReturnType<typeof tokenView>[]> {
    const now = new Date();
    return [...(await this.#rows()).values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map((r) => tokenView(r, now));
  }

  /** Revokes the token: from this answer on, no call and no open dashboard connection is served with it. */
  async revoke(name: string): Promise<ReturnType<typeof tokenView>> {
    const rows = await this.#rows();
    const row = [...rows.values()].find((r) => r.name === name);
    if (!row) throw new SfError('TOKEN_UNKNOWN', `there is no token '${name}': list them with sf token list`);
    if (!row.revokedAt) {
      const updated = await this.svc.db.token.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
      row.revokedAt = updated.revokedAt;
      for (const listener of this.#revokedListeners) listener(row.name);
    }
    return tokenView(row);
  }

  /** Calls `listener` with a token's name as it is revoked (the hub closes that token's connections). */
  onRevoked(listener: (name: string) => void): () => void {
    this.#revokedListeners.add(listener);
    return () => this.#revokedListeners.delete(listener);
  }

  /**
   * At sfmd's start: the admin token from the data directory is the row named `admin`. A new file (first start,
   * or its owner deleted it to get a fresh one) replaces that row's secret; an existing file gets a row once
   * (an upgrade from before tokens); a revoked admin token stays revoked while its file is unchanged.
   */
  async adoptAdminToken(secret: string, fileIsNew: boolean): Promise<void> {
    const secretHash = hashSecret(secret);
    const existing = await this.svc.db.token.findUnique({ where: { name: ADMIN_TOKEN_NAME } });
    if (!existing) {
      await this.svc.db.token.create({ data: { name: ADMIN_TOKEN_NAME, role: 'admin', secretHash } });
    } else if (fileIsNew && existing.secretHash !== secretHash) {
      await this.svc.db.token.update({
        where: { id: existing.id },
        data: { secretHash, role: 'admin', revokedAt: null, expiresAt: null, createdAt: new Date(), lastUsedAt: null },
      });
      this.svc.log.warn('a new admin.token file was made: the admin token row now takes its secret (the old one opens nothing)');
    }
    this.#byHash = null; // read again with the row as it now is
  }

  #noteUse(row: TokenRow, now: Date): void {
    if (row.lastUsedAt && now.getTime() - row.lastUsedAt.getTime() < LAST_USED_WRITE_MS) return;
    row.lastUsedAt = now;
    this.svc.db.token
      .update({ where: { id: row.id }, data: { lastUsedAt: now } })
      .catch((err: unknown) => this.svc.log.warn({ err, token: row.name }, 'could not note when a token was last used'));
  }

  /** All tokens by secret hash, read once; every change goes through this class and updates it too. */
  #rows(): Promise<Map<string, TokenRow>> {
    if (this.#byHash) return Promise.resolve(this.#byHash);
    this.#loading ??= this.svc.db.token
      .findMany()
      .then((rows) => {
        this.#byHash = new Map(rows.map((r) => [r.secretHash, r]));
        return this.#byHash;
      })
      .finally(() => {
        this.#loading = null;
      });
    return this.#loading;
  }
}

const registries = new WeakMap<Pick<MasterServices, 'db'>, TokenRegistry>();

/** sfmd's one registry (per services), so the API, the edge and the hub see the same revokes. */
export function tokenRegistry(svc: Pick<MasterServices, 'db' | 'log'>): TokenRegistry {
  let registry = registries.get(svc);
  if (!registry) {
    registry = new TokenRegistry(svc);
    registries.set(svc, registry);
  }
  return registry;
}
