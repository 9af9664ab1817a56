// A self-signed ECDSA P-256 certificate for sfmd's first start, built with node:crypto alone: the few DER
// structures of an X.509 v3 certificate are written here (no dependency), then signed with the new key.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** Ten years, as Incus gives its own: long enough never to lapse under a running cluster, pinned anyway. */
const VALID_YEARS = 10;

/** A new key and a certificate for `names` (DNS names or IP addresses, the first is its common name). */
export function makeSelfSigned(names: string[], now: Date = new Date()): CertificatePair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000); // an hour back, for clocks a little behind
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALID_YEARS);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive and of full length
  const name = seq(set(seq(oid('2.5.4.10'), utf8('Snowflock'))), set(seq(oid('2.5.4.3'), utf8(names[0] ?? 'sfmd'))));
  const altNames = names.map((n) => (isIP(n) ? tagged(0x87, ipBytes(n)) : tagged(0x82, Buffer.from(n, 'ascii'))));
  const tbs = seq(
    tagged(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ECDSA_SHA256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tagged(
      0xa3,
      seq(
        seq(oid('2.5.29.19'), tagged(0x01, Buffer.from([0xff])), octets(seq())), // basicConstraints, critical: not a CA
        seq(oid('2.5.29.15'), tagged(0x01, Buffer.from([0xff])), octets(tagged(0x03, Buffer.from([0x07, 0x80])))), // keyUsage: digitalSignature
        seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1')))), // extKeyUsage: serverAuth
        seq(oid('2.5.29.17'), octets(seq(...altNames))), // subjectAltName
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ECDSA_SHA256, tagged(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  // Parsed back and checked against its own key: a mistake here must fail at once, not in a client's handshake.
  if (!new X509Certificate(certPem).verify(publicKey)) throw new Error('the new self-signed certificate does not verify');
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  createPrivateKey(keyPem);
  return { certPem, keyPem };
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tagged(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const seq = (...items: Buffer[]) => tagged(0x30, ...items);
const set = (...items: Buffer[]) => tagged(0x31, ...items);
const octets = (content: Buffer) => tagged(0x04, content);
const utf8 = (text: string) => tagged(0x0c, Buffer.from(text, 'utf8'));

/** A non-negative INTEGER: a leading zero byte keeps a high first bit from reading as negative. */
function integer(bytes: Buffer): Buffer {
  return tagged(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tagged(0x06, Buffer.from(out));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/** UTCTime until 2049, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  const year = date.getUTCFullYear();
  return year < 2050 ? tagged(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tagged(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail = ''] = address.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}
