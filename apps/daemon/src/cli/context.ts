// What every command gets: parsed global options (--json/--format, --home, --url, --token, --domain), the
// data directory's paths, output helpers, and a lazily built sfmd client.
import { existsSync, readFileSync } from 'node:fs';
import { parseSfldConfig, parseSfmdConfig } from '../common/config/index.ts';
import { SfError } from '../common/errors.ts';
import { DEFAULT_MASTER_PORT } from '../common/ports.ts';
import { snowflockPaths, type SnowflockPaths } from '../common/paths.ts';
import { readSecretFile } from '../common/secret-file.ts';
import type { OutputFormat } from './formats.ts';
import { createOutput, type Output } from './output.ts';
import { createSfmdClient, type SfmdClient } from '../common/sfmd-client.ts';
import { type SfmdTrust, sfmdTransport } from '../common/pinned-tls.ts';
import { resolveTrust, sfmdScheme } from '../common/sfmd-trust.ts';

export interface GlobalOptions {
  /** Output for programs (--json, or --format json|yaml): no notes, no progress line. */
  json: boolean;
  /** --format; absent: json with --json, else table. */
  format?: OutputFormat | undefined;
  home?: string | undefined;
  url?: string | undefined;
  token?: string | undefined;
  domain?: string | undefined;
}

export interface CommandContext {
  options: GlobalOptions;
  paths: SnowflockPaths;
  out: Output;
  url: string;
  /** The fingerprint of sfmd's certificate this command pins, and where it was read. */
  trust: SfmdTrust;
  /** fetch() for sfmd's own URLs (its /healthz), over the pinned connection when sfmd speaks HTTPS. */
  sfmdFetch: typeof fetch;
  /** Client with the caller's token (--token, $SNOWFLOCK_TOKEN or the admin token) and the --domain header when given. */
  client(): SfmdClient;
}

function readConfigQuietly<T>(file: string, parse: (text: string, name: string) => T): T | null {
  try {
    return existsSync(file) ? parse(readFileSync(file, 'utf8'), file) : null;
  } catch {
    return null; // a broken config is reported by the daemon that owns it, not by every command
  }
}

/** --url, then $SNOWFLOCK_URL, then this home's sfmd.cfg or sfld.cfg, then the default port here. */
export function resolveMasterUrl(options: GlobalOptions, paths: SnowflockPaths): string {
  if (options.url) return options.url;
  if (process.env.SNOWFLOCK_URL) return process.env.SNOWFLOCK_URL;
  const sfmd = readConfigQuietly(paths.sfmdConfig, parseSfmdConfig);
  if (sfmd) return `${sfmdScheme(sfmd.tls?.enabled ?? true)}://127.0.0.1:${sfmd.masterListenPort}`;
  const sfld = readConfigQuietly(paths.sfldConfig, parseSfldConfig);
  if (sfld) return `${sfmdScheme(sfld.masterTls)}://${sfld.masterHost}:${sfld.masterPort}`;
  return `https://127.0.0.1:${DEFAULT_MASTER_PORT}`;
}

/** The pin for sfmd's certificate: $SNOWFLOCK_FINGERPRINT, this home's sfld.cfg, or the fingerprint file sfmd wrote here. */
export function resolveCliTrust(paths: SnowflockPaths): SfmdTrust {
  return resolveTrust(paths, readConfigQuietly(paths.sfldConfig, parseSfldConfig));
}

export function resolveToken(options: GlobalOptions, paths: SnowflockPaths): string | null {
  return options.token ?? process.env.SNOWFLOCK_TOKEN ?? readSecretFile(paths.adminToken);
}

export function createCommandContext(options: GlobalOptions): CommandContext {
  const paths = snowflockPaths(options.home);
  const url = resolveMasterUrl(options, paths);
  const trust = resolveCliTrust(paths);
  let client: SfmdClient | null = null;
  return {
    options,
    paths,
    out: createOutput(options.format ?? options.json),
    url,
    trust,
    sfmdFetch: sfmdTransport(url, trust).fetch,
    client() {
      if (!client) {
        const token = resolveToken(options, paths);
        if (!token) {
          throw new SfError(
            'UNAUTHORIZED',
            `no API token: pass --token, set SNOWFLOCK_TOKEN, or run where ${paths.adminToken} exists (sfmd writes it at first start)`,
          );
        }
        client = createSfmdClient({ url, token, domain: options.domain ?? null, trust });
      }
      return client;
    },
  };
}
