// sfseed.cfg: what the seed (master) VM of a new cluster boots and how big it is.
// parseSfseedConfig is pure and keeps paths as written; loadSfseedConfig resolves them against the file's folder.
import path from 'node:path';
import { VM_LIMITS } from '../wire.ts';
import { parsePyLiteralFile } from './pyliteral.ts';
import { readConfigFile } from './read-config-file.ts';
import { configError, integer, listOf, nullable, optional, port, readSettings, required, string } from './schema.ts';

export interface SfseedConfig {
  diskImage: string | null;
  vcpus: number;
  memoryMiB: number;
  kernel: string | null;
  args: string | null;
  name: string | null;
  /** Ports of the master VM the outside may connect to through the cluster's router. */
  inboundPorts: number[];
}

const filePath = string({ maxLength: 4096, what: 'a file path' });

// The limits are sfmd's seed API's (the VMM's own), so a bad file fails here, with a line number.
const { minMemoryMiB, maxMemoryMiB, maxVcpus } = VM_LIMITS;
const SFSEED_FIELDS = {
  disk_image: optional(nullable(filePath), null),
  vcpus: optional(integer({ min: 1, max: maxVcpus }), 1),
  memory: required(
    integer({ min: minMemoryMiB, max: maxMemoryMiB, what: `a size in MiB from ${minMemoryMiB} to ${maxMemoryMiB}` }),
    "the seed VM's memory in MiB, e.g. memory = 1024",
  ),
  kernel: optional(nullable(filePath), null),
  args: optional(nullable(string({ minLength: 0, maxLength: 4096, what: 'a string of boot arguments' })), null),
  inbound_ports: optional(listOf(port, { what: 'a list of port numbers' }), [] as number[]),
  name: optional(nullable(string({ maxLength: 64, pattern: /^[\w.-]+$/, what: "a name of letters, digits, '_', '.' and '-'" })), null),
};

export function parseSfseedConfig(text: string, fileName = 'sfseed.cfg'): SfseedConfig {
  const entries = parsePyLiteralFile(text, fileName);
  const s = readSettings(entries, SFSEED_FIELDS, fileName);
  if (s.disk_image === null && s.kernel === null) {
    const line = entries.get('disk_image')?.line ?? null;
    throw configError(
      { file: fileName, line, path: line === null ? '' : 'disk_image' },
      `${line === null ? "missing required setting 'disk_image'" : 'disk_image is None'}: give the seed VM's disk image, e.g. disk_image = 'seed.qcow2' (or a kernel = '...' to boot directly)`,
    );
  }
  return {
    diskImage: s.disk_image,
    vcpus: s.vcpus,
    memoryMiB: s.memory,
    kernel: s.kernel,
    args: s.args,
    name: s.name,
    inboundPorts: s.inbound_ports,
  };
}

export async function loadSfseedConfig(file: string): Promise<SfseedConfig> {
  const text = await readConfigFile(file, "create it with at least, e.g., disk_image = 'seed.qcow2' and memory = 1024");
  const config = parseSfseedConfig(text, file);
  // Relative to the config file, not to wherever the command happens to run.
  const dir = path.dirname(path.resolve(file));
  const resolve = (p: string | null) => (p === null ? null : path.resolve(dir, p));
  return { ...config, diskImage: resolve(config.diskImage), kernel: resolve(config.kernel) };
}
