// Descriptor transfer between sflds (DESIGN §4.4 step 3): the master's sfld keeps each served fork's
// descriptor on a shelf, and hands it over TCP (its local HTTP port) to whoever shows the fork's token.
// Boundary: storage, the HTTP handler and the fetching client; what a descriptor means is native code's.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { inspectDescriptor } from '@snowflock/native';
import { messageOf, SfError } from '../common/errors.ts';

/** A descriptor is a few KiB (≤ 64 KiB by design); anything past this is not one. */
export const MAX_DESCRIPTOR_BYTES = 1 << 20;
const PATH = /^\/descriptors\/([0-9a-f]{16})$/;

interface Shelved {
  descriptor: Buffer;
  token: Buffer;
  owner: string;
}

/** Where a target sfld gets a fork's descriptor: the master host's sfld, the snapshot, and the secret for it. */
export interface DescriptorLocation {
  host: string;
  port: number;
  snapshotId: string;
  token: string;
}

export class DescriptorShelf {
  readonly #items = new Map<string, Shelved>();

  /** Keeps `descriptor` until withdrawn; returns the token a fetch must show (32 random bytes, hex). */
  offer(snapshotId: string, descriptor: Buffer, owner: string): string {
    const token = randomBytes(32);
    this.#items.set(snapshotId, { descriptor, token, owner });
    return token.toString('hex');
  }

  /** Drops one snapshot's descriptor (its memserver stopped: no clone could fetch its pages). */
  withdraw(snapshotId: string): void {
    this.#items.delete(snapshotId);
  }

  /** Drops every descriptor of `owner` (a master domain that ended: its memservers are gone too). */
  withdrawOwner(owner: string): void {
    for (const [id, item] of this.#items) if (item.owner === owner) this.#items.delete(id);
  }

  get size(): number {
    return this.#items.size;
  }

  /**
   * Answers `GET /descriptors/<snapshot id>` with `authorization: Bearer <token>`; returns false for
   * any other path (the caller answers those). Unknown snapshot: 404; wrong or missing token: 403.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const match = PATH.exec(req.url ?? '');
    if (!match) return false;
    const reply = (status: number, error: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error }));
    };
    if (req.method !== 'GET') {
      reply(405, 'descriptors are fetched with GET');
      return true;
    }
    const item = this.#items.get(match[1]!);
    if (!item) {
      reply(404, `no fork with snapshot id ${match[1]} is served here (its master ended?)`);
      return true;
    }
    const shown = /^Bearer ([0-9a-f]{64})$/.exec(req.headers.authorization ?? '')?.[1];
    if (!shown || !timingSafeEqual(Buffer.from(shown, 'hex'), item.token)) {
      reply(403, 'the descriptor needs the token sfmd gave with the clone request');
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': item.descriptor.length });
    res.end(item.descriptor);
    return true;
  }
}

/**
 * Fetches a fork's descriptor from the master host's sfld: length-checked, and checked to be a valid
 * descriptor of the snapshot asked for (a stale or foreign one is refused). Throws SfError with the reason.
 */
export async function fetchDescriptor(from: DescriptorLocation, address: string, timeoutMs = 10_000): Promise<Buffer> {
  const where = `${from.host} (${address}:${from.port})`;
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = http.get(
      {
        host: address,
        port: from.port,
        path: `/descriptors/${from.snapshotId}`,
        timeout: timeoutMs,
        headers: { authorization: `Bearer ${from.token}` },
      },
      (res) => {
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (res.statusCode !== 200) {
          res.resume();
          return reject(
            new SfError('UNAVAILABLE', `${where} did not give the descriptor of snapshot ${from.snapshotId}: HTTP ${res.statusCode}`),
          );
        }
        if (!Number.isSafeInteger(declared) || declared <= 0 || declared > MAX_DESCRIPTOR_BYTES) {
          res.destroy();
          return reject(
            new SfError(
              'BAD_INPUT',
              `${where} sent a descriptor of ${res.headers['content-length'] ?? 'undeclared'} bytes (at most ${MAX_DESCRIPTOR_BYTES})`,
            ),
          );
        }
        const chunks: Buffer[] = [];
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got > declared) res.destroy(new Error(`more than the ${declared} bytes declared`));
          else chunks.push(c);
        });
        res.on('end', () =>
          got === declared
            ? resolve(Buffer.concat(chunks))
            : reject(new SfError('UNAVAILABLE', `${where} sent ${got} of ${declared} descriptor bytes`)),
        );
        res.on('error', (err) => reject(new SfError('UNAVAILABLE', `descriptor transfer from ${where} failed: ${err.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new SfError('UNAVAILABLE', `cannot fetch the descriptor from ${where}: ${err.message}`)));
  });
  let snapshotId: string | null;
  try {
    snapshotId = inspectDescriptor(body).snapshotId;
  } catch (err) {
    throw new SfError('BAD_INPUT', `${where} sent something that is not a descriptor: ${messageOf(err)}`);
  }
  if (snapshotId !== from.snapshotId) {
    throw new SfError('BAD_INPUT', `${where} sent the descriptor of snapshot ${snapshotId}, not ${from.snapshotId}`);
  }
  return body;
}
