// Reads a config file for the load* functions: refuses what is not a small regular UTF-8 file, and turns
// "not found" into a message that says how to create it. Parsing stays in the pure parse* functions.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SfError } from '../errors.ts';
import { PY_LIMITS } from './pyliteral.ts';

export async function readConfigFile(filePath: string, howToCreate: string): Promise<string> {
  const full = path.resolve(filePath);
  let size: number;
  try {
    const info = await stat(full);
    // A FIFO or a device like /dev/zero would never end: only plain files are read.
    if (!info.isFile()) throw new SfError('BAD_CONFIG', `${full} is not a regular file: point to the config file itself`);
    size = info.size;
  } catch (err) {
    if (err instanceof SfError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new SfError('BAD_CONFIG', `config file ${full} does not exist: ${howToCreate}`, { cause: err });
    }
    throw new SfError('BAD_CONFIG', `cannot read config file ${full}: ${(err as Error).message}`, { cause: err });
  }
  if (size > PY_LIMITS.maxFileBytes) {
    throw new SfError('BAD_CONFIG', `${filePath}: the file is ${size} bytes; config files may be at most 1 MiB`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(full);
  } catch (err) {
    throw new SfError('BAD_CONFIG', `cannot read config file ${full}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new SfError('BAD_CONFIG', `${filePath}: the file is not valid UTF-8 text`, { cause: err });
  }
}
