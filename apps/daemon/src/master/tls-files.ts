// The certificate sfmd serves: sfmd.cfg's tls_cert/tls_key when given, else a self-signed pair made at first
// start in the data directory (kept, so the fingerprint clients pinned stays valid). Writes the fingerprint file.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TlsSettings } from '../common/config/index.ts';
import { SfError, messageOf } from '../common/errors.ts';
import type { SnowflockPaths } from '../common/paths.ts';
import { certificateFingerprint } from '../common/pinned-tls.ts';
import { makeSelfSigned } from '../common/self-signed.ts';
import { writeSecretFile } from '../common/secret-file.ts';

export interface ServedCertificate {
  cert: string;
  key: string;
  fingerprint: string;
  /** Where the pair came from: 'made' now, 'kept' from an earlier start, or 'configured'. */
  origin: 'made' | 'kept' | 'configured';
}

/** The pair to serve, or null for plain HTTP (`tls = False`); the fingerprint file follows either way. */
export function servedCertificate(settings: TlsSettings | undefined, paths: SnowflockPaths): ServedCertificate | null {
  if (settings && !settings.enabled) {
    rmSync(paths.fingerprint, { force: true }); // no certificate: a stale pin would only mislead
    return null;
  }
  const served = settings?.certFile && settings.keyFile ? configuredPair(settings.certFile, settings.keyFile) : selfSignedPair(paths);
  writeFileSync(paths.fingerprint, `${served.fingerprint}\n`);
  return served;
}

function configuredPair(certFile: string, keyFile: string): ServedCertificate {
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new SfError('BAD_CONFIG', `sfmd.cfg ${key} '${file}' cannot be read (${messageOf(err)}): fix the path or its permissions`);
    }
  };
  const cert = read(certFile, 'tls_cert');
  const key = read(keyFile, 'tls_key');
  let fingerprint: string;
  try {
    fingerprint = certificateFingerprint(cert);
  } catch (err) {
    throw new SfError('BAD_CONFIG', `sfmd.cfg tls_cert '${certFile}' is not a PEM certificate (${messageOf(err)})`);
  }
  return { cert, key, fingerprint, origin: 'configured' };
}

function selfSignedPair(paths: SnowflockPaths): ServedCertificate {
  if (existsSync(paths.tlsCert) && existsSync(paths.tlsKey)) {
    const cert = readFileSync(paths.tlsCert, 'utf8');
    return { cert, key: readFileSync(paths.tlsKey, 'utf8'), fingerprint: certificateFingerprint(cert), origin: 'kept' };
  }
  // Names a client may use for this machine; clients pin the fingerprint, so these matter only to a browser or curl.
  const { certPem, keyPem } = makeSelfSigned([os.hostname(), 'localhost', '127.0.0.1', '::1']);
  mkdirSync(path.dirname(paths.tlsCert), { recursive: true, mode: 0o700 });
  writeSecretFile(paths.tlsKey, keyPem.trim());
  writeFileSync(paths.tlsCert, certPem);
  return { cert: certPem, key: keyPem, fingerprint: certificateFingerprint(certPem), origin: 'made' };
}
