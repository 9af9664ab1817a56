// Where Snowflock keeps its files: the data directory ($SNOWFLOCK_HOME, default ~/.snowflock) and
// the well-known names inside it. Every process resolves paths here so they always agree.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SnowflockPaths {
  home: string;
  database: string;
  adminToken: string;
  secretsDir: string;
  runDir: string;
  logDir: string;
  sfmdConfig: string;
  sfldConfig: string;
}

export function resolveHome(explicit?: string): string {
  return path.resolve(explicit ?? process.env.SNOWFLOCK_HOME ?? path.join(os.homedir(), '.snowflock'));
}

export function snowflockPaths(explicitHome?: string): SnowflockPaths {
  const home = resolveHome(explicitHome);
  return {
    home,
    database: path.join(home, 'sfmd.db'),
    adminToken: path.join(home, 'admin.token'),
    secretsDir: path.join(home, 'secrets'),
    runDir: path.join(home, 'run'),
    logDir: path.join(home, 'logs'),
    sfmdConfig: path.join(home, 'sfmd.cfg'),
    sfldConfig: path.join(home, 'sfld.cfg'),
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
