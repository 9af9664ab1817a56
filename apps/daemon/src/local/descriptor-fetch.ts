// A target sfld's side of the descriptor hand-off (descriptor-shelf.ts): one request to the master host's sfld,
// sent when the clone request arrives and answered when the fork is served, every part of the answer checked.
// Boundary: the HTTP client and its checks; the shelf serves, domain-manager.ts makes the clones.
import http from 'node:http';
import { inspectDescriptor } from '@snowflock/native';
import { messageOf, SfError } from '../common/errors.ts';
import { type ServedFork, servedForkSchema } from '../common/wire.ts';
import { type DescriptorLocation, type Handoff, HANDOFF_TIMEOUT_MS, MAX_DESCRIPTOR_BYTES, SERVED_HEADER } from './descriptor-shelf.ts';

/** What the master's sfld said when it did not hand the descriptor over. */
function refusal(status: number | undefined, body: string): string {
  let error = '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') error = parsed.error.slice(0, 500);
  } catch {
    /* not the shelf's JSON: the status says enough */
  }
  return `HTTP ${status}${error ? `: ${error}` : ''}`;
}

/**
 * Fetches a fork's descriptor from the master host's sfld at `address`, waiting (up to `timeoutMs`) for the fork to
 * be served. The descriptor is length-checked and must be the served snapshot's; where its pages are served must
 * be well formed. Throws SfError with the reason (the fork's own failure when the master's sfld reports one).
 */
export async function fetchHandoff(from: DescriptorLocation, address: string, timeoutMs = HANDOFF_TIMEOUT_MS): Promise<Handoff> {
  const where = `${from.host} (${address}:${from.port})`;
  const { body, served } = await new Promise<{ body: Buffer; served: string | undefined }>((resolve, reject) => {
    const req = http.get(
      {
        host: address,
        port: from.port,
        path: `/handoffs/${from.key}`,
        timeout: timeoutMs,
        headers: { authorization: `Bearer ${from.token}` },
        agent: false, // its own connection: a held request must not queue behind another
      },
      (res) => {
        const declared = Number(res.headers['content-length'] ?? NaN);
        const limit = res.statusCode === 200 ? declared : 4096;
        if (res.statusCode === 200 && (!Number.isSafeInteger(declared) || declared <= 0 || declared > MAX_DESCRIPTOR_BYTES)) {
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
          if (got > limit) res.destroy(new Error(`more than the ${limit} bytes expected`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          if (res.statusCode !== 200) {
            const what = `${where} did not hand over the fork's descriptor: ${refusal(res.statusCode, all.toString())}`;
            return reject(new SfError('UNAVAILABLE', what));
          }
          if (got !== declared) return reject(new SfError('UNAVAILABLE', `${where} sent ${got} of ${declared} descriptor bytes`));
          const header = res.headers[SERVED_HEADER];
          resolve({ body: all, served: Array.isArray(header) ? header[0] : header });
        });
        res.on('error', (err) => reject(new SfError('UNAVAILABLE', `descriptor transfer from ${where} failed: ${err.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the fork was not served within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new SfError('UNAVAILABLE', `cannot get the descriptor from ${where}: ${err.message}`)));
  });
  let pages: ServedFork;
  try {
    pages = servedForkSchema.parse(JSON.parse(served ?? ''));
  } catch {
    throw new SfError('BAD_INPUT', `${where} did not say where the fork's pages are served (header ${JSON.stringify(served ?? null)})`);
  }
  let snapshotId: string | null;
  try {
    snapshotId = inspectDescriptor(body).snapshotId;
  } catch (err) {
    throw new SfError('BAD_INPUT', `${where} sent something that is not a descriptor: ${messageOf(err)}`);
  }
  if (snapshotId !== pages.snapshotId) {
    throw new SfError('BAD_INPUT', `${where} sent the descriptor of snapshot ${snapshotId}, but serves ${pages.snapshotId}`);
  }
  return { descriptor: body, ...pages };
}
