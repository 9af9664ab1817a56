// Who listens on a TCP port, for the message of a start that found its port taken: the listening socket's
// inode from /proc/net/tcp and tcp6, then the process holding that inode among /proc/*/fd. Linux only;
// elsewhere (or for another user's process) it says as much as it can.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface PortHolder {
  port: number;
  /** null when no process of this user holds the socket (another user's, or no /proc). */
  pid: number | null;
  /** Its command line, e.g. `node …/sf.mjs sfmd start --foreground`. */
  command: string | null;
  /** Its SNOWFLOCK_HOME when it is a Snowflock process of this user. */
  home: string | null;
}

const LISTEN = '0A';

/** Inodes of the sockets listening on this port (any address, IPv4 or IPv6); null without /proc/net. */
function listeningInodes(port: number): Set<string> | null {
  const inodes = new Set<string>();
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== LISTEN) continue;
      const localPort = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
      if (localPort === port && fields[9] !== '0') inodes.add(fields[9] as string);
    }
  }
  return readAny ? inodes : null;
}

function pidHolding(inodes: Set<string>): number | null {
  const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (wanted.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

function readNulSeparated(file: string): string[] | null {
  try {
    return readFileSync(file, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** Who listens on the port, or null when nothing does (as far as /proc says; null too without /proc). */
export function portHolder(port: number): PortHolder | null {
  if (!port) return null;
  const inodes = listeningInodes(port);
  if (!inodes || inodes.size === 0) return null;
  const pid = pidHolding(inodes);
  if (pid === null) return { port, pid: null, command: null, home: null };
  const argv = readNulSeparated(`/proc/${pid}/cmdline`);
  const command = argv ? argv.join(' ') : null;
  // A Snowflock daemon: run by sf.mjs, or started by one (the dashboard's next-server has the start's nonce).
  const env = readNulSeparated(`/proc/${pid}/environ`) ?? [];
  const started = command?.includes('sf.mjs') || env.some((v) => v.startsWith('SNOWFLOCK_START_NONCE='));
  const home = started ? (env.find((v) => v.startsWith('SNOWFLOCK_HOME='))?.slice('SNOWFLOCK_HOME='.length) ?? null) : null;
  return { port, pid, command, home };
}

/** "port 61708 is in use by pid 4242 (node …/sf.mjs sfmd start --foreground), another Snowflock's (data in …)". */
export function describePortHolder(holder: PortHolder): string {
  if (holder.pid === null) return `port ${holder.port} is in use by a process this user cannot see (another user's?)`;
  const what = holder.command ? ` (${holder.command.length > 160 ? `${holder.command.slice(0, 157)}...` : holder.command})` : '';
  const snowflock = holder.home
    ? `: another Snowflock's, with data in ${holder.home} (stop it with SNOWFLOCK_HOME=${holder.home} npm stop)`
    : holder.command?.includes('sf.mjs')
      ? ': another Snowflock process'
      : '';
  return `port ${holder.port} is in use by pid ${holder.pid}${what}${snowflock}`;
}
