// sfmd.cfg: the classic example file, defaults, and every way a setting can be wrong — each failure must
// be BAD_CONFIG naming the file, the line and the key.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SfError } from '../errors.ts';
import { DEFAULT_RATE_LIMITS, DEFAULT_SCHEDULER_SETTINGS, loadSfmdConfig, parseSfmdConfig, type SfmdConfig } from './index.ts';

// As in the SnowFlock 0.2c seed documentation, with RAM written the two usual ways.
const CLASSIC = `# sfmd.cfg -- SnowFlock master daemon configuration
# The port sfmd listens on for sfld daemons and seed API calls.
master_listen_port = 0xF10C

# One entry per physical host running sfld: its name (or a [unicast, multicast]
# pair of names), how many CPUs and how many bytes of RAM clones may use there.
cluster_hosts = [ {'host': 'node1', 'cpus': 4, 'RAM': 4*1024*1024*1024},
                  {'host': ['node2', 'node2-mc'], 'cpus': 8, 'RAM': 8 << 30} ]

network_mode = 'multicast'      # or 'unicast'
network_whitelist = ['10.0.0.0/8', 'gateway.example.org', '192.168.1.7']
bandwidth_cap = 20   # Mbit/s with the whitelisted outside
clusterid = 1
`;

const MINIMAL_HOSTS = "cluster_hosts = [{'host': 'node1', 'cpus': 2, 'RAM': 1 << 30}]\n";

function bad(text: string, line: number | null, key: string, ...fragments: string[]): string {
  let message = '';
  assert.throws(
    () => parseSfmdConfig(text),
    (err: unknown) => {
      assert.ok(err instanceof SfError, String(err));
      assert.equal(err.code, 'BAD_CONFIG');
      message = err.message;
      assert.ok(message.startsWith(line === null ? 'sfmd.cfg: ' : `sfmd.cfg:${line}:`), `line ${line} in: ${message}`);
      assert.ok(message.includes(key), `key '${key}' in: ${message}`);
      for (const f of fragments) assert.ok(message.includes(f), `'${f}' in: ${message}`);
      return true;
    },
  );
  return message;
}

test('the classic sfmd.cfg', () => {
  const expected: SfmdConfig = {
    masterListenPort: 61708,
    clusterHosts: [
      { name: 'node1', unicast: 'node1', multicast: 'node1', cpus: 4, ram: 4 * 2 ** 30 },
      { name: 'node2', unicast: 'node2', multicast: 'node2-mc', cpus: 8, ram: 8 * 2 ** 30 },
    ],
    networkMode: 'multicast',
    networkWhitelist: ['10.0.0.0/8', 'gateway.example.org', '192.168.1.7'],
    bandwidthCap: 20,
    clusterNetwork: { block: '10.128.0.0/12', prefix: 24 },
    vxlanPort: 4789,
    clusterId: 1,
    keepOperations: 10_000,
    rateLimits: DEFAULT_RATE_LIMITS,
    metrics: 'token',
    tls: { enabled: true, certFile: null, keyFile: null },
    allocator: 'default',
    scheduler: DEFAULT_SCHEDULER_SETTINGS,
  };
  assert.deepEqual(parseSfmdConfig(CLASSIC), expected);
});

test('only cluster_hosts is required; the rest has defaults', () => {
  assert.deepEqual(parseSfmdConfig(MINIMAL_HOSTS), {
    masterListenPort: 0xf10c,
    clusterHosts: [{ name: 'node1', unicast: 'node1', multicast: 'node1', cpus: 2, ram: 2 ** 30 }],
    networkMode: 'multicast',
    networkWhitelist: [],
    bandwidthCap: 0,
    clusterNetwork: { block: '10.128.0.0/12', prefix: 24 },
    vxlanPort: 4789,
    clusterId: 0, // seed §12: the first cluster is 0
    keepOperations: 10_000,
    rateLimits: DEFAULT_RATE_LIMITS,
    metrics: 'token',
    tls: { enabled: true, certFile: null, keyFile: null },
    allocator: 'default',
    scheduler: DEFAULT_SCHEDULER_SETTINGS,
  });
});

test('cluster_network: a private, aligned IPv4 block; cluster_prefix: the subnets fit in it', () => {
  const net = parseSfmdConfig(`${MINIMAL_HOSTS}cluster_network = '192.168.0.0/16'\ncluster_prefix = 28\nvxlan_port = 8472\n`);
  assert.deepEqual(net.clusterNetwork, { block: '192.168.0.0/16', prefix: 28 });
  assert.equal(net.vxlanPort, 8472);
  bad(`${MINIMAL_HOSTS}cluster_network = '8.8.0.0/16'\n`, 2, 'cluster_network', 'private range');
  bad(`${MINIMAL_HOSTS}cluster_network = '10.128.0.1/12'\n`, 2, 'cluster_network', 'aligned');
  bad(`${MINIMAL_HOSTS}cluster_network = '10.0.0.0/7'\n`, 2, 'cluster_network', 'private range');
  bad(`${MINIMAL_HOSTS}cluster_network = '10.0.0.0/24'\ncluster_prefix = 20\n`, 3, 'cluster_prefix', 'at least 24');
  bad(`${MINIMAL_HOSTS}cluster_prefix = 30\n`, 2, 'cluster_prefix', 'from 16 to 29');
});

test('keep_operations: how many Operation rows sfmd keeps, at least 100', () => {
  assert.equal(parseSfmdConfig(`${MINIMAL_HOSTS}keep_operations = 100\n`).keepOperations, 100);
  assert.equal(parseSfmdConfig(`${MINIMAL_HOSTS}keep_operations = 250 * 1000  # a busy cluster\n`).keepOperations, 250_000);
  bad(`${MINIMAL_HOSTS}keep_operations = 99\n`, 2, 'keep_operations', 'expected an integer of at least 100', 'got 99');
  bad(`${MINIMAL_HOSTS}keep_operations = 0\n`, 2, 'keep_operations', 'got 0');
  bad(`${MINIMAL_HOSTS}keep_operations = -10000\n`, 2, 'keep_operations', 'got -10000');
  bad(`${MINIMAL_HOSTS}keep_operations = 'all'\n`, 2, 'keep_operations', "got 'all'");
  bad(`${MINIMAL_HOSTS}keep_operations = None\n`, 2, 'keep_operations', 'got None');
  bad(`${MINIMAL_HOSTS}keep_operations = True\n`, 2, 'keep_operations', 'got True');
});

test("metrics: who may read /metrics, the admin token's holder unless set", () => {
  assert.equal(parseSfmdConfig(MINIMAL_HOSTS).metrics, 'token');
  assert.equal(parseSfmdConfig(`${MINIMAL_HOSTS}metrics = 'open'\n`).metrics, 'open');
  assert.equal(parseSfmdConfig(`${MINIMAL_HOSTS}metrics = 'off'\n`).metrics, 'off');
  bad(`${MINIMAL_HOSTS}metrics = 'public'\n`, 2, 'metrics', "expected 'open' or 'token' or 'off'", "got 'public'");
  bad(`${MINIMAL_HOSTS}metrics = True\n`, 2, 'metrics', 'got True');
});

test('unicast mode, None bandwidth cap, IP hosts, tuple pair, and a later first cluster id', () => {
  const config = parseSfmdConfig(
    "cluster_hosts = ({'host': ('10.0.0.5', '239.1.1.5'), 'cpus': 1, 'RAM': 512 * 1024 * 1024},)\n" +
      "network_mode = 'unicast'\nbandwidth_cap = None\nclusterid = 100\nmaster_listen_port = 8000\n",
  );
  assert.deepEqual(config.clusterHosts, [{ name: '10.0.0.5', unicast: '10.0.0.5', multicast: '239.1.1.5', cpus: 1, ram: 2 ** 29 }]);
  assert.equal(config.networkMode, 'unicast');
  assert.equal(config.bandwidthCap, 0);
  assert.equal(config.clusterId, 100);
  assert.equal(config.masterListenPort, 8000);
});

test('defaults are not shared between parses', () => {
  parseSfmdConfig(MINIMAL_HOSTS).networkWhitelist.push('10.0.0.1');
  assert.deepEqual(parseSfmdConfig(MINIMAL_HOSTS).networkWhitelist, []);
});

test('the documented example message: a host with cpus as a word', () => {
  const text = CLASSIC.replace("'cpus': 8", "'cpus': 'four'");
  const message = bad(text, 8, 'cluster_hosts[1].cpus');
  assert.equal(message, "sfmd.cfg:8: cluster_hosts[1].cpus: expected a positive integer, got 'four'");
});

test('wrong types and ranges', () => {
  bad(`${MINIMAL_HOSTS}master_listen_port = 70000\n`, 2, 'master_listen_port', 'expected a port number from 1 to 65535, got 70000');
  bad(`${MINIMAL_HOSTS}master_listen_port = '61708'\n`, 2, 'master_listen_port', "got '61708'");
  bad(`${MINIMAL_HOSTS}master_listen_port = True\n`, 2, 'master_listen_port', 'got True');
  bad(`${MINIMAL_HOSTS}network_mode = 'broadcast'\n`, 2, 'network_mode', "expected 'multicast' or 'unicast', got 'broadcast'");
  bad(`${MINIMAL_HOSTS}network_whitelist = '10.0.0.0/8'\n`, 2, 'network_whitelist', 'expected a list');
  bad(`${MINIMAL_HOSTS}network_whitelist = [\n  '10.0.0.1',\n  '10.0.0.0/33',\n]\n`, 4, 'network_whitelist[1]', 'CIDR');
  bad(`${MINIMAL_HOSTS}network_whitelist = ['not a host']\n`, 2, 'network_whitelist[0]', "got 'not a host'");
  bad(`${MINIMAL_HOSTS}bandwidth_cap = -1\n`, 2, 'bandwidth_cap', 'expected a non-negative integer, got -1');
  bad(`${MINIMAL_HOSTS}clusterid = 'one'\n`, 2, 'clusterid', 'expected a non-negative integer');
  bad("cluster_hosts = {'host': 'node1', 'cpus': 2, 'RAM': 1}\n", 1, 'cluster_hosts', 'expected a list of hosts, got a dict');
  bad("cluster_hosts = ['node1']\n", 1, 'cluster_hosts[0]', 'expected a host entry like');
});

test('cluster_hosts entries: required keys, positive sizes, names, pairs', () => {
  bad('cluster_hosts = []\n', 1, 'cluster_hosts', 'at least one item');
  bad(
    "cluster_hosts = [\n  {'host': 'node1', 'cpus': -4, 'RAM': 1 << 30},\n]\n",
    2,
    'cluster_hosts[0].cpus',
    'expected a positive integer, got -4',
  );
  bad("cluster_hosts = [\n  {'host': 'node1', 'cpus': 0, 'RAM': 1 << 30},\n]\n", 2, 'cluster_hosts[0].cpus', 'got 0');
  bad("cluster_hosts = [\n  {'host': 'node1', 'cpus': 4, 'RAM': 0},\n]\n", 2, 'cluster_hosts[0].RAM', 'expected a positive integer, got 0');
  bad("cluster_hosts = [\n  {'host': 'node1', 'cpus': 4},\n]\n", 2, 'cluster_hosts[0]', "missing key 'RAM'");
  bad("cluster_hosts = [\n  {'cpus': 4, 'RAM': 1},\n]\n", 2, 'cluster_hosts[0]', "missing key 'host'");
  bad(
    "cluster_hosts = [\n  {'host': 'node1', 'cpus': 4,\n   'ram': 1},\n]\n",
    3,
    'cluster_hosts[0]',
    "unknown key 'ram' (did you mean 'RAM'?)",
    'allowed keys: host, cpus, RAM',
  );
  bad(
    "cluster_hosts = [{'host': '../etc/passwd', 'cpus': 4, 'RAM': 1}]\n",
    1,
    'cluster_hosts[0].host',
    'expected a host name or IP address',
  );
  bad("cluster_hosts = [{'host': '', 'cpus': 4, 'RAM': 1}]\n", 1, 'cluster_hosts[0].host', 'empty');
  bad(
    "cluster_hosts = [{'host': ['a', 'b', 'c'], 'cpus': 4, 'RAM': 1}]\n",
    1,
    'cluster_hosts[0].host',
    '[unicast_name, multicast_name] pair',
  );
  bad("cluster_hosts = [{'host': ['a', 7], 'cpus': 4, 'RAM': 1}]\n", 1, 'cluster_hosts[0].host[1]', 'got 7');
  bad("cluster_hosts = [{'host': 'node1', 'cpus': 4, 'RAM': 4.5}]\n", 1, 'cluster_hosts[0].RAM', 'floating-point');
});

test('host names must be unique', () => {
  const message = bad(
    "cluster_hosts = [\n  {'host': 'node1', 'cpus': 4, 'RAM': 1},\n  {'host': 'node2', 'cpus': 4, 'RAM': 1},\n  {'host': ['NODE1', 'mc'], 'cpus': 4, 'RAM': 1},\n]\n",
    4,
    'cluster_hosts[2]',
  );
  assert.ok(message.includes("host name 'node1' appears twice (first at cluster_hosts[0], line 2)"), message);
});

test('unknown, missing and duplicate top-level keys', () => {
  bad(`${MINIMAL_HOSTS}master_port = 1\n`, 2, 'master_port', "unknown key 'master_port'; allowed keys: master_listen_port, cluster_hosts");
  bad("cluster_host = [{'host': 'a', 'cpus': 1, 'RAM': 1}]\n", 1, 'cluster_host', "did you mean 'cluster_hosts'?");
  bad('master_listen_port = 0xF10C\n', null, 'cluster_hosts', "missing required setting 'cluster_hosts'", 'cluster_hosts = [');
  bad(`${MINIMAL_HOSTS}\n${MINIMAL_HOSTS}`, 3, 'cluster_hosts', 'already set on line 1');
});

test('rate_limits: each key given replaces its default, None turns a limit off, the rest are kept', () => {
  const config = parseSfmdConfig(`${MINIMAL_HOSTS}rate_limits = {'anonymous': 10, 'admin': None, 'host_events': 5 * 1000}\n`);
  assert.deepEqual(config.rateLimits, { ...DEFAULT_RATE_LIMITS, anonymous: 10, admin: null, hostEvents: 5000 });
  assert.deepEqual(parseSfmdConfig(`${MINIMAL_HOSTS}rate_limits = {}\n`).rateLimits, DEFAULT_RATE_LIMITS);
});

test('rate_limits: unknown keys, wrong types and ranges name the key', () => {
  bad(
    `${MINIMAL_HOSTS}rate_limits = {'anonymus': 10}\n`,
    2,
    'rate_limits',
    "unknown key 'anonymus' (did you mean 'anonymous'?)",
    'failed_auth',
  );
  bad(`${MINIMAL_HOSTS}rate_limits = {\n  'admin': 0,\n}\n`, 3, 'rate_limits.admin', 'a positive integer) or None for no limit, got 0');
  bad(`${MINIMAL_HOSTS}rate_limits = {'host': '2000'}\n`, 2, 'rate_limits.host', "got '2000'");
  bad(`${MINIMAL_HOSTS}rate_limits = {'guest': -5}\n`, 2, 'rate_limits.guest', 'got -5');
  bad(`${MINIMAL_HOSTS}rate_limits = [100]\n`, 2, 'rate_limits', 'expected a dict of limits per second');
  bad(`${MINIMAL_HOSTS}rate_limits = 100\n`, 2, 'rate_limits', 'got 100');
});

test('hostile content in sfmd.cfg', () => {
  bad(`${MINIMAL_HOSTS}clusterid = __import__('os').system('rm -rf /')\n`, 2, 'clusterid', 'function calls');
  bad(`${MINIMAL_HOSTS}import os\n`, 2, 'import', 'import statements are not allowed');
  bad(`${MINIMAL_HOSTS}bandwidth_cap = 10**1000\n`, 2, 'bandwidth_cap', "no '**' operator");
  bad(`${MINIMAL_HOSTS}bandwidth_cap = 1 << 100000\n`, 2, 'bandwidth_cap', 'shift count');
});

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sfmd-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('loadSfmdConfig reads the file and names its path in errors', async () => {
  const file = path.join(dir, 'sfmd.cfg');
  await writeFile(file, CLASSIC);
  assert.equal((await loadSfmdConfig(file)).clusterHosts.length, 2);

  const broken = path.join(dir, 'broken.cfg');
  await writeFile(broken, `${MINIMAL_HOSTS}clusterid = -1\n`);
  await assert.rejects(loadSfmdConfig(broken), (err: SfError) => {
    assert.equal(err.code, 'BAD_CONFIG');
    assert.ok(err.message.startsWith(`${broken}:2: clusterid: `), err.message);
    return true;
  });
});

test('loadSfmdConfig: a missing file says where and how to create it', async () => {
  const missing = path.join(dir, 'nope', 'sfmd.cfg');
  await assert.rejects(loadSfmdConfig(missing), (err: SfError) => {
    assert.equal(err.code, 'BAD_CONFIG');
    assert.ok(err.message.includes(missing), err.message);
    assert.ok(err.message.includes('create it') && err.message.includes('cluster_hosts = ['), err.message);
    return true;
  });
});

test('loadSfmdConfig refuses directories, oversized files and invalid UTF-8', async () => {
  const folder = path.join(dir, 'folder.cfg');
  await mkdir(folder);
  await assert.rejects(loadSfmdConfig(folder), (err: SfError) => err.code === 'BAD_CONFIG' && err.message.includes('not a regular file'));

  const huge = path.join(dir, 'huge.cfg');
  await writeFile(huge, `${MINIMAL_HOSTS}# ${'x'.repeat(2 * 1024 * 1024)}\n`);
  await assert.rejects(
    loadSfmdConfig(huge),
    (err: SfError) => err.code === 'BAD_CONFIG' && err.message.includes(huge) && err.message.includes('1 MiB'),
  );

  const binary = path.join(dir, 'binary.cfg');
  await writeFile(binary, Buffer.from([0x61, 0x20, 0x3d, 0x20, 0xff, 0xfe, 0x0a]));
  await assert.rejects(loadSfmdConfig(binary), (err: SfError) => err.code === 'BAD_CONFIG' && err.message.includes('UTF-8'));
});

test('tls: HTTPS unless tls = False; tls_cert and tls_key name a pair together or not at all', () => {
  assert.deepEqual(parseSfmdConfig(`${MINIMAL_HOSTS}\ntls = False\n`).tls, { enabled: false, certFile: null, keyFile: null });
  assert.deepEqual(parseSfmdConfig(`${MINIMAL_HOSTS}\ntls_cert = '/etc/s.crt'\ntls_key = '/etc/s.key'\n`).tls, {
    enabled: true,
    certFile: '/etc/s.crt',
    keyFile: '/etc/s.key',
  });
  assert.throws(() => parseSfmdConfig(`${MINIMAL_HOSTS}\ntls_cert = '/etc/s.crt'\n`), /tls_key: tls_cert and tls_key go together/);
});
