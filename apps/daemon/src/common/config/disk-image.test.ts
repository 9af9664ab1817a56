// A seed's disk image is refused before anything boots when it is missing, not a file, empty, not whole
// sectors or over 1 TiB, each time naming the file; a good one gives its size.
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SfError } from '../errors.ts';
import { checkDiskImage, MAX_DISK_IMAGE_BYTES } from './index.ts';

async function refused(image: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(checkDiskImage(image, 'seeds/a.cfg: disk_image'), (err: unknown) => {
    assert.ok(err instanceof SfError, String(err));
    assert.equal(err.code, 'BAD_CONFIG');
    for (const f of ['seeds/a.cfg: disk_image', image, ...fragments]) assert.ok(err.message.includes(f), `'${f}' in: ${err.message}`);
    return true;
  });
}

test('disk images: missing, a folder, empty, a partial sector and over 1 TiB are refused by name; whole sectors pass', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sf-disk-image-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const at = (name: string) => path.join(dir, name);
  await refused(at('nope.img'), 'does not exist', 'tar cf');
  await refused(dir, 'not a regular file');
  await writeFile(at('empty.img'), '');
  await refused(at('empty.img'), 'is empty');
  await writeFile(at('odd.img'), Buffer.alloc(1000));
  await refused(at('odd.img'), '1000 bytes, not a multiple of 512', 'truncate -s %512');
  // Sparse: a file one sector over the limit takes no space.
  await writeFile(at('huge.img'), '');
  await truncate(at('huge.img'), MAX_DISK_IMAGE_BYTES + 512);
  await refused(at('huge.img'), 'over the 1 TiB limit');
  await truncate(at('huge.img'), MAX_DISK_IMAGE_BYTES);
  assert.equal(await checkDiskImage(at('huge.img')), MAX_DISK_IMAGE_BYTES, 'exactly 1 TiB is allowed');
  await writeFile(at('ok.img'), Buffer.alloc(3 * 512));
  assert.equal(await checkDiskImage(at('ok.img')), 1536);
});
