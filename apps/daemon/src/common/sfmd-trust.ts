// Which fingerprint of sfmd's certificate a process on this machine trusts, and which scheme it uses: read
// like the admin token is, from the environment, sfld.cfg and the data directory sfmd writes it to.
import type { SfldConfig } from './config/index.ts';
import type { SnowflockPaths } from './paths.ts';
import { normalizeFingerprint, type SfmdTrust } from './pinned-tls.ts';
import { readSecretFile } from './secret-file.ts';
import { SfError } from './errors.ts';

/**
 * $SNOWFLOCK_FINGERPRINT, else sfld.cfg's master_fingerprint, else the data directory's sfmd.fingerprint (sfmd
 * writes it at each start, so a CLI or sfld on sfmd's own machine needs nothing). With none, the trust has no
 * pin and its source says where one goes.
 */
export function resolveTrust(paths: SnowflockPaths, sfld: SfldConfig | null, env: NodeJS.ProcessEnv = process.env): SfmdTrust {
  if (env.SNOWFLOCK_FINGERPRINT) {
    const pin = normalizeFingerprint(env.SNOWFLOCK_FINGERPRINT);
    if (!pin) {
      throw new SfError(
        'BAD_CONFIG',
        `SNOWFLOCK_FINGERPRINT is not a SHA-256 fingerprint (64 hex digits, colons optional): copy it from 'sf fingerprint' on sfmd's machine`,
      );
    }
    return { fingerprint: pin, source: 'SNOWFLOCK_FINGERPRINT' };
  }
  if (sfld?.masterFingerprint) return { fingerprint: sfld.masterFingerprint, source: `master_fingerprint in ${paths.sfldConfig}` };
  const stored = readSecretFile(paths.fingerprint);
  const pin = stored ? normalizeFingerprint(stored) : null;
  if (pin) return { fingerprint: pin, source: paths.fingerprint };
  return { fingerprint: null, source: `master_fingerprint in ${paths.sfldConfig} (or SNOWFLOCK_FINGERPRINT)` };
}

export function sfmdScheme(tls: boolean): 'https' | 'http' {
  return tls ? 'https' : 'http';
}

/** The pin of the sfmd that runs from this data directory only (what `sfmd start` checks its own health with). */
export function homeTrust(paths: SnowflockPaths): SfmdTrust {
  const stored = readSecretFile(paths.fingerprint);
  return { fingerprint: stored ? normalizeFingerprint(stored) : null, source: paths.fingerprint };
}
