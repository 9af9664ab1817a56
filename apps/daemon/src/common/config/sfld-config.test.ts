// sfld.cfg: the classic file, defaults, and wrong settings failing with BAD_CONFIG naming file, line and key.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SfError } from '../errors.ts';
import { loadSfldConfig, parseSfldConfig } from './index.ts';

const CLASSIC = `# sfld.cfg -- SnowFlock local daemon configuration
# This host's name, exactly as listed in cluster_hosts of the master's sfmd.cfg.
hostname = 'node2'

# Where sfmd runs.
master_host = "master.cluster.local"
master_port = 0xF10C

# The port this sfld listens on.
local_listen_port = 0xC01F
`;

function bad(text: string, line: number | null, key: string, ...fragments: string[]): void {
  assert.throws(
    () => parseSfldConfig(text),
    (err: unknown) => {
      assert.ok(err instanceof SfError, String(err));
      assert.equal(err.code, 'BAD_CONFIG');
      assert.ok(err.message.startsWith(line === null ? 'sfld.cfg: ' : `sfld.cfg:${line}:`), `line ${line} in: ${err.message}`);
      assert.ok(err.message.includes(key), `key '${key}' in: ${err.message}`);
      for (const f of fragments) assert.ok(err.message.includes(f), `'${f}' in: ${err.message}`);
      return true;
    },
  );
}

test('the classic sfld.cfg', () => {
  assert.deepEqual(parseSfldConfig(CLASSIC), {
    hostname: 'node2',
    masterHost: 'master.cluster.local',
    masterPort: 61708,
    localListenPort: 49183,
    masterTls: true,
    masterFingerprint: null,
    guestCallRate: 20,
    clusterNetwork: true,
    outsideInterface: null,
    metrics: 'open',
    pageMtu: null,
    pageLivenessMs: 10_000,
    guestApiPort: 7007,
  });
});

test('only hostname is required', () => {
  assert.deepEqual(parseSfldConfig("hostname = 'node1'"), {
    hostname: 'node1',
    masterHost: 'localhost',
    masterPort: 0xf10c,
    localListenPort: 0xc01f,
    masterTls: true,
    masterFingerprint: null,
    guestCallRate: 20,
    clusterNetwork: true,
    outsideInterface: null,
    metrics: 'open',
    pageMtu: null,
    pageLivenessMs: 10_000,
    guestApiPort: 7007,
  });
  const off = parseSfldConfig("hostname = 'node1'\ncluster_network = False\noutside_interface = 'eth1'\n");
  assert.deepEqual([off.clusterNetwork, off.outsideInterface], [false, 'eth1']);
  assert.equal(parseSfldConfig("hostname = '10.1.2.3'\nmaster_host = '::1'\n").masterHost, '::1');
  assert.equal(parseSfldConfig("hostname = 'node1'\nguest_call_rate = 20\n").guestCallRate, 20);
  assert.equal(parseSfldConfig("hostname = 'node1'\nmetrics = 'off'\n").metrics, 'off');
  assert.equal(parseSfldConfig("hostname = 'node1'\nguest_api_port = 0\n").guestApiPort, 0);
});

test('wrong sfld.cfg settings', () => {
  bad("hostname = 'node1'\nmetrics = 'token'\n", 2, 'metrics', "expected 'open' or 'off', got 'token'");
  bad("hostname = 'node1'\ncluster_network = 1\n", 2, 'cluster_network', 'expected True or False, got 1');
  bad("hostname = 'node1'\noutside_interface = 'eth 0'\n", 2, 'outside_interface', 'interface name');
  bad('master_port = 61708\n', null, 'hostname', "missing required setting 'hostname'", "hostname = 'node1'");
  bad("hostname = 'node1'\nmaster_port = '61708'\n", 2, 'master_port', "expected a port number from 1 to 65535, got '61708'");
  bad("hostname = 'node1'\nlocal_listen_port = 0\n", 2, 'local_listen_port', 'got 0');
  bad("hostname = 'node1'\nlocal_listen_port = 0x10000\n", 2, 'local_listen_port', 'got 65536');
  bad("hostname = 'node 1'\n", 1, 'hostname', "expected a host name or IP address, got 'node 1'");
  bad("hostname = 'node1/../x'\n", 1, 'hostname', 'expected a host name');
  bad('hostname = None\n', 1, 'hostname', 'expected a host name, got None');
  bad("hostname = 'node1'\nmaster_host = ['a']\n", 2, 'master_host', 'got a list of 1 item');
  bad(
    "hostname = 'node1'\nmasterhost = 'a'\n",
    2,
    'masterhost',
    "did you mean 'master_host'?",
    'allowed keys: hostname, master_host, master_port, master_listen_port, local_listen_port, guest_call_rate',
  );
  bad("hostname = 'node1'\nhostname = 'node2'\n", 2, 'hostname', 'already set on line 1');
  bad("hostname = 'node1'\nguest_call_rate = 0\n", 2, 'guest_call_rate', 'an integer from 1 to 100000, got 0');
  bad("hostname = 'node1'\nguest_call_rate = 'fast'\n", 2, 'guest_call_rate', "got 'fast'");
  bad("hostname = 'node1'\nmaster_host = socket.gethostname()\n", 2, 'master_host', "'socket' is a name");
});

test('loadSfldConfig reads the file; a missing one says how to create it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sfld-config-'));
  try {
    const file = path.join(dir, 'sfld.cfg');
    await writeFile(file, CLASSIC);
    assert.equal((await loadSfldConfig(file)).hostname, 'node2');
    const missing = path.join(dir, 'missing.cfg');
    await assert.rejects(loadSfldConfig(missing), (err: SfError) => {
      assert.equal(err.code, 'BAD_CONFIG');
      assert.ok(err.message.includes(missing) && err.message.includes("hostname = 'node1'"), err.message);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("sfld.cfg takes the master's port as master_listen_port (seed §12's name) or master_port; both must agree", () => {
  const base = "hostname = 'node2'\nmaster_host = 'm'\n";
  assert.equal(parseSfldConfig(`${base}master_listen_port = 2000\n`).masterPort, 2000);
  assert.equal(parseSfldConfig(`${base}master_port = 2001\n`).masterPort, 2001);
  assert.equal(parseSfldConfig(`${base}master_port = 2002\nmaster_listen_port = 2002\n`).masterPort, 2002);
  assert.equal(parseSfldConfig(base).masterPort, 0xf10c);
  bad(`${base}master_port = 2001\nmaster_listen_port = 2000\n`, 4, 'master_listen_port', 'differ: keep one');
});

test('sfld.cfg page_mtu: an MTU, or auto to read it from the page interface; anything else is refused', () => {
  const base = "hostname = 'node2'\n";
  assert.equal(parseSfldConfig(base).pageMtu, null);
  assert.equal(parseSfldConfig(`${base}page_mtu = 9000\n`).pageMtu, 9000);
  assert.equal(parseSfldConfig(`${base}page_mtu = 'auto'\n`).pageMtu, 'auto');
  assert.equal(parseSfldConfig(`${base}page_mtu = None\n`).pageMtu, null);
  bad(`${base}page_mtu = 100\n`, 2, 'page_mtu', "expected 'auto' or an MTU from 576 to 65535", 'got 100');
  bad(`${base}page_mtu = 'jumbo'\n`, 2, 'page_mtu', "got 'jumbo'");
  bad(`${base}page_mtu = 70000\n`, 2, 'page_mtu', 'got 70000');
});

test('sfld.cfg page_liveness_ms: how long remote clones wait on a silent memserver', () => {
  const base = "hostname = 'node2'\n";
  assert.equal(parseSfldConfig(base).pageLivenessMs, 10_000);
  assert.equal(parseSfldConfig(`${base}page_liveness_ms = 30000\n`).pageLivenessMs, 30_000);
  bad(`${base}page_liveness_ms = 10\n`, 2, 'page_liveness_ms', 'from 100 to 3600000, got 10');
});

test("sfld.cfg master_fingerprint: sfmd's certificate pin in any common spelling, stored as Node reports it", () => {
  const base = "hostname = 'node1'\n";
  const pin = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
  for (const spelled of [pin, pin.toLowerCase(), pin.replaceAll(':', ''), `sha256:${pin}`]) {
    assert.equal(parseSfldConfig(`${base}master_fingerprint = '${spelled}'\n`).masterFingerprint, pin, spelled);
  }
  assert.throws(
    () => parseSfldConfig(`${base}master_fingerprint = 'AB:CD'\n`),
    /sfld\.cfg:2: master_fingerprint: expected the SHA-256 fingerprint of sfmd's certificate \('sf fingerprint'/,
  );
  assert.equal(parseSfldConfig(`${base}master_tls = False\n`).masterTls, false);
});
