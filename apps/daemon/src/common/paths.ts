// Where Snowflock keeps its files: the data directory ($SNOWFLOCK_HOME, default ~/.snowflock), the
// well-known names inside it, and where sfmd.cfg and sfld.cfg are found (the data directory when one is
// named, else /etc/snowflock as in the seed, else ~/.snowflock). Every process resolves paths here.
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SnowflockPaths {
  home: string;
  database: string;
  adminToken: string;
  /** sfmd's self-signed certificate and key (made at first start unless sfmd.cfg names its own pair). */
  tlsCert: string;
  tlsKey: string;
  /** The SHA-256 fingerprint of the certificate sfmd serves, written at each start for clients on this machine. */
  fingerprint: string;
  secretsDir: string;
  runDir: string;
  logDir: string;
  sfmdConfig: string;
  sfldConfig: string;
}

/** The seed's place for the config files (§2, §11, §12). */
export const ETC_DIR = '/etc/snowflock';

/** Where to look; tests point these elsewhere. */
export interface PathSources {
  env?: NodeJS.ProcessEnv;
  etcDir?: string;
}

export function resolveHome(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(explicit ?? env.SNOWFLOCK_HOME ?? path.join(os.homedir(), '.snowflock'));
}

/**
 * A config file: in the data directory when one is named (--home, $SNOWFLOCK_HOME), else in /etc/snowflock when
 * it is there (a seed-style install), else in ~/.snowflock (where first start writes defaults).
 */
function configFile(name: string, home: string, named: boolean, etcDir: string): string {
  if (named) return path.join(home, name);
  const etc = path.join(etcDir, name);
  return existsSync(etc) ? etc : path.join(home, name);
}

export function snowflockPaths(explicitHome?: string, sources: PathSources = {}): SnowflockPaths {
  const env = sources.env ?? process.env;
  const home = resolveHome(explicitHome, env);
  const named = explicitHome !== undefined || env.SNOWFLOCK_HOME !== undefined;
  const etcDir = sources.etcDir ?? ETC_DIR;
  return {
    home,
    database: path.join(home, 'sfmd.db'),
    adminToken: path.join(home, 'admin.token'),
    tlsCert: path.join(home, 'tls', 'sfmd.crt'),
    tlsKey: path.join(home, 'tls', 'sfmd.key'),
    fingerprint: path.join(home, 'sfmd.fingerprint'),
    secretsDir: path.join(home, 'secrets'),
    runDir: path.join(home, 'run'),
    logDir: path.join(home, 'logs'),
    sfmdConfig: configFile('sfmd.cfg', home, named, etcDir),
    sfldConfig: configFile('sfld.cfg', home, named, etcDir),
  };
}

/** Secrets of a host live in one file each, readable only by the owner. */
export function hostSecretPath(paths: SnowflockPaths, hostname: string): string {
  return path.join(paths.secretsDir, `${hostname}.secret`);
}

export function ensureDirs(paths: SnowflockPaths): void {
  for (const dir of [paths.home, paths.runDir, paths.logDir]) mkdirSync(dir, { recursive: true });
  mkdirSync(paths.secretsDir, { recursive: true, mode: 0o700 });
}
