// `sf fingerprint`: the SHA-256 fingerprint of sfmd's certificate, which sflds and CLIs on other machines pin
// (sfld.cfg master_fingerprint). --served asks sfmd itself, and says whether this machine's pin matches it.
import { existsSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import { SfError, messageOf } from '../../common/errors.ts';
import { certificateFingerprint, normalizeFingerprint } from '../../common/pinned-tls.ts';
import { readSecretFile } from '../../common/secret-file.ts';
import type { Command } from '../command.ts';
import type { CommandContext } from '../context.ts';

/** The fingerprint of the certificate the sfmd of this data directory serves (or will serve: its self-signed one). */
function localFingerprint(ctx: CommandContext): { fingerprint: string; file: string } {
  const written = readSecretFile(ctx.paths.fingerprint);
  const pin = written ? normalizeFingerprint(written) : null;
  if (pin) return { fingerprint: pin, file: ctx.paths.fingerprint };
  if (existsSync(ctx.paths.tlsCert)) {
    return { fingerprint: certificateFingerprint(readFileSync(ctx.paths.tlsCert)), file: ctx.paths.tlsCert };
  }
  throw new SfError(
    'BAD_CONFIG',
    `no certificate in ${ctx.paths.home}: sfmd makes one at its first start (sfmd start), or serves plain HTTP ` +
      `(tls = False in sfmd.cfg). On another machine, run 'sf fingerprint --served' to ask sfmd at ${ctx.url}`,
  );
}

/** What sfmd at `url` presents, read without trusting it (the caller compares). */
function servedFingerprint(url: string): Promise<string> {
  const { hostname, port, protocol } = new URL(url);
  if (protocol !== 'https:') {
    return Promise.reject(new SfError('BAD_INPUT', `${url} is plain HTTP: there is no certificate to show (tls = False in sfmd.cfg)`));
  }
  return new Promise((resolve, reject) => {
    const host = hostname.replace(/^\[|\]$/g, '');
    const socket = tls.connect({ host, port: Number(port || 443), rejectUnauthorized: false, timeout: 5000 });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('timeout', () => socket.destroy(new Error('no TLS answer within 5 s')));
    socket.once('error', (err) => reject(new SfError('UNAVAILABLE', `sfmd is not reachable at ${url}: ${messageOf(err)}`)));
  });
}

export const fingerprint: Command = {
  name: 'fingerprint',
  summary: "Show the SHA-256 fingerprint of sfmd's TLS certificate, which other hosts pin in sfld.cfg.",
  usage: 'sf fingerprint [--served]',
  description:
    "Without options: the certificate of the sfmd of this data directory. With --served: what sfmd at --url (or the configs' address) presents, and whether this machine's pin ($SNOWFLOCK_FINGERPRINT, sfld.cfg master_fingerprint or the data directory's sfmd.fingerprint) matches it.",
  options: { served: { type: 'boolean', description: 'ask sfmd over the network instead of reading this data directory' } },
  examples: ['sf fingerprint', 'sf fingerprint --served --url https://master:61708', 'sf fingerprint --json'],
  async run(ctx, _args, values) {
    if (values.served !== true) {
      const local = localFingerprint(ctx);
      ctx.out.result(local, () => local.fingerprint);
      ctx.out.note(`on every other host, put it in sfld.cfg: master_fingerprint = '${local.fingerprint}'`);
      return;
    }
    const served = await servedFingerprint(ctx.url);
    const pinned = ctx.trust.fingerprint;
    const matches = pinned === null ? null : pinned === served;
    ctx.out.result({ url: ctx.url, fingerprint: served, pinned, pinSource: ctx.trust.source, matches }, () =>
      [
        served,
        matches === null
          ? `  this machine pins nothing yet: if 'sf fingerprint' on sfmd's machine prints the same, put it in ${ctx.trust.source}`
          : matches
            ? `  matches the pin in ${ctx.trust.source}`
            : `  DIFFERS from the pin in ${ctx.trust.source} (${pinned}): do not trust it until sfmd's machine confirms it`,
      ].join('\n'),
    );
    return matches === false ? 3 : 0;
  },
};
