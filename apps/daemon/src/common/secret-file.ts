// Secret files (the admin token, per-host secrets): one line, readable only by their owner.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export function writeSecretFile(file: string, secret: string): void {
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its old mode on write: set it anyway
}

export function readSecretFile(file: string): string | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8').trim();
  return text.length > 0 ? text : null;
}
