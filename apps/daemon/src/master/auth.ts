// Credentials: API tokens (tokens.ts; the first one, `admin`, made at sfmd's first start and kept in
// $SNOWFLOCK_HOME/admin.token) and per-host secrets for sflds. Only sha256s are stored; compares are constant-time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readSecretFile, writeSecretFile } from '../common/secret-file.ts';

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Returns the admin token, creating it on first start; `created` tells the caller to announce it once. */
export function ensureAdminToken(file: string): { token: string; created: boolean } {
  const existing = readSecretFile(file);
  if (existing) return { token: existing, created: false };
  const token = newSecret();
  writeSecretFile(file, token);
  return { token, created: true };
}

export type Credentials = { kind: 'bearer'; token: string } | { kind: 'host'; name: string; secret: string } | { kind: 'none' };

/** Reads `Authorization: Bearer <token>` or `Authorization: SfHost <name>:<secret>`. */
export function parseAuthorization(header: string | undefined): Credentials {
  if (!header) return { kind: 'none' };
  const [scheme, ...rest] = header.trim().split(/\s+/);
  const value = rest.join(' ');
  if (scheme === 'Bearer' && value) return { kind: 'bearer', token: value };
  if (scheme === 'SfHost') {
    const colon = value.indexOf(':');
    if (colon > 0) return { kind: 'host', name: value.slice(0, colon), secret: value.slice(colon + 1) };
  }
  return { kind: 'none' };
}
