// A lab for the cluster network tests, all in network namespaces (nothing in this machine's own): two
// hosts and an "outside" on one LAN (198.18.0.0/15 addresses), and namespaces standing in for VMs,
// each joined to its host's cluster bridge by a veth pair in place of the tap. Removed by prefix.
import { execFile, spawnSync, type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { netCommands, type NetCommands } from '../src/local/net/ip-commands.ts';

export const PROBE = fileURLToPath(new URL('./net-probe.py', import.meta.url));

/** Why this machine cannot run the lab (not root, tools missing), or null. */
export function cannotBuildNetLab(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: it makes network namespaces, bridges, VXLAN devices and nftables rules';
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
    ['tc', 'iproute2'],
    ['python3', 'python3'],
  ] as const) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) return `needs ${tool} (apt-get install ${pkg})`;
  }
  return null;
}

function exec(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code as number) || 1 : 0, stdout: stdout.trim(), stderr: stderr.trim() }),
    );
  });
}

export class NetLab {
  readonly prefix = `sl${randomBytes(2).toString('hex')}`;
  /** 198.18.N.0/24 for the LAN. */
  readonly lanBase = `198.19.${100 + Math.floor(Math.random() * 150)}`;
  readonly children: ChildProcess[] = [];
  readonly namespaces: string[] = [];

  ns(name: string) {
    return `${this.prefix}-${name}`;
  }

  /** Runs `args` inside namespace `name`; fails the test with stderr when it fails. */
  async in(name: string, args: string[]): Promise<string> {
    const r = await exec('ip', ['netns', 'exec', this.ns(name), ...args]);
    if (r.code !== 0) throw new Error(`${args.join(' ')} in ${name}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** As in(), but answers whether it worked (for what must fail). */
  async works(name: string, args: string[]): Promise<boolean> {
    return (await exec('ip', ['netns', 'exec', this.ns(name), ...args])).code === 0;
  }

  probe(name: string, ...args: string[]) {
    return this.in(name, ['python3', PROBE, ...args]);
  }

  probeWorks(name: string, ...args: string[]) {
    return this.works(name, ['python3', PROBE, ...args]);
  }

  commands(name: string): NetCommands {
    return netCommands(this.ns(name));
  }

  async addNamespace(name: string) {
    const r = await exec('ip', ['netns', 'add', this.ns(name)]);
    if (r.code !== 0) throw new Error(`ip netns add ${this.ns(name)}: ${r.stderr}`);
    this.namespaces.push(this.ns(name));
    await this.in(name, ['ip', 'link', 'set', 'lo', 'up']);
  }

  /** The LAN: a bridge in namespace "lan", one veth to each of `members` (each gets address lanBase.(10 + i)). */
  async buildLan(members: string[]) {
    await this.addNamespace('lan');
    await this.in('lan', ['ip', 'link', 'add', 'lan', 'type', 'bridge']);
    await this.in('lan', ['ip', 'link', 'set', 'lan', 'up']);
    const addresses: Record<string, string> = {};
    for (const [i, m] of members.entries()) {
      await this.in('lan', ['ip', 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(m)]);
      await this.in('lan', ['ip', 'link', 'set', `p${i}`, 'master', 'lan', 'up']);
      addresses[m] = `${this.lanBase}.${10 + i}`;
      await this.in(m, ['ip', 'addr', 'add', `${addresses[m]}/24`, 'dev', 'eth0']);
      await this.in(m, ['ip', 'link', 'set', 'eth0', 'up']);
    }
    return addresses;
  }

  /** A VM stand-in: namespace `name`, its eth0 the peer of `port` (made in namespace `host`), with this MAC and IP. */
  vmPort(host: string, name: string, mac: string, ip: string, prefixLength: number, gateway: string | null) {
    return async (port: string) => {
      await this.in(host, ['ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns(name)]);
      await this.in(name, ['ip', 'link', 'set', 'eth0', 'address', mac]);
      await this.in(name, ['ip', 'addr', 'add', `${ip}/${prefixLength}`, 'dev', 'eth0']);
      await this.in(name, ['ip', 'link', 'set', 'eth0', 'up']);
      if (gateway) await this.in(name, ['ip', 'route', 'add', 'default', 'via', gateway]);
    };
  }

  /** Starts a probe server (echo or sink) in a namespace; resolves once it listens. */
  async serve(name: string, port: number, mode: 'echo' | 'sink') {
    const child = spawn('ip', ['netns', 'exec', this.ns(name), 'python3', PROBE, 'serve', String(port), mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`probe server in ${name} ended (${code})`)));
    });
  }

  async close() {
    for (const c of this.children) c.kill('SIGKILL');
    // Deleting a namespace deletes its interfaces, their veth peers, its nftables and its qdiscs.
    for (const n of this.namespaces.reverse()) await exec('ip', ['netns', 'del', n]);
  }
}
