// A seed's disk_image checked before anything boots: a regular file, whole 512-byte sectors, at most 1 TiB.
// The CLI runs it where the seed file is, sfld again on its host (the path must exist there too).
import { stat } from 'node:fs/promises';
import { SfError } from '../errors.ts';

export const SECTOR_BYTES = 512;
/** The VMM's limit (native disk-options MAX_DISK_BYTES). */
export const MAX_DISK_IMAGE_BYTES = 2 ** 40;

/** Resolves with the image's size; throws SfError('BAD_CONFIG') naming the file and what to do. */
export async function checkDiskImage(image: string, where = 'disk_image'): Promise<number> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(image);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`;
    throw new SfError(
      'BAD_CONFIG',
      `${where} ${image} ${why}: make the image (e.g. tar cf disk.img DIR) or fix disk_image in the seed config`,
    );
  }
  if (!info.isFile()) {
    throw new SfError('BAD_CONFIG', `${where} ${image} is not a regular file: give a raw image file (e.g. one made with tar cf)`);
  }
  if (info.size === 0) throw new SfError('BAD_CONFIG', `${where} ${image} is empty: a disk needs at least one 512-byte sector`);
  if (info.size % SECTOR_BYTES !== 0) {
    throw new SfError('BAD_CONFIG', `${where} ${image} is ${info.size} bytes, not a multiple of 512: pad it (truncate -s %512 ${image})`);
  }
  if (info.size > MAX_DISK_IMAGE_BYTES) {
    throw new SfError('BAD_CONFIG', `${where} ${image} is ${info.size} bytes, over the 1 TiB limit of a disk image`);
  }
  return info.size;
}
