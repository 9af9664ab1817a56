// sfld.cfg: which host this local daemon is (its name in sfmd.cfg's cluster_hosts) and where its master is.
// parseSfldConfig is pure (text in, typed config out); loadSfldConfig adds reading the file.
import { DEFAULT_LOCAL_PORT, DEFAULT_MASTER_PORT } from '../ports.ts';
import { hostName } from './net-names.ts';
import { parsePyLiteralFile } from './pyliteral.ts';
import { readConfigFile } from './read-config-file.ts';
import { optional, port, readSettings, required } from './schema.ts';

export interface SfldConfig {
  hostname: string;
  masterHost: string;
  masterPort: number;
  localListenPort: number;
}

const SFLD_FIELDS = {
  hostname: required(hostName, "this host's name exactly as in cluster_hosts of sfmd.cfg, e.g. hostname = 'node1'"),
  master_host: optional(hostName, 'localhost'),
  master_port: optional(port, DEFAULT_MASTER_PORT),
  local_listen_port: optional(port, DEFAULT_LOCAL_PORT),
};

export function parseSfldConfig(text: string, fileName = 'sfld.cfg'): SfldConfig {
  const s = readSettings(parsePyLiteralFile(text, fileName), SFLD_FIELDS, fileName);
  return { hostname: s.hostname, masterHost: s.master_host, masterPort: s.master_port, localListenPort: s.local_listen_port };
}

export async function loadSfldConfig(filePath: string): Promise<SfldConfig> {
  const text = await readConfigFile(
    filePath,
    "create it with this host's name as listed in sfmd.cfg, e.g. hostname = 'node1' (and master_host = 'MASTER' if sfmd runs elsewhere)",
  );
  return parseSfldConfig(text, filePath);
}
