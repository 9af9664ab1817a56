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
    guestCallRate: 20,
    clusterNetwork: true,
    outsideInterface: null,
  });
});

test('only hostname is required', () => {
  assert.deepEqual(parseSfldConfig("hostname = 'node1'"), {
    hostname: 'node1',
    masterHost: 'localhost',
    masterPort: 0xf10c,
    localListenPort: 0xc01f,
    guestCallRate: 20,
    clusterNetwork: true,
    outsideInterface: null,
  });
  const off = parseSfldConfig("hostname = 'node1'\ncluster_network = False\noutside_interface = 'eth1'\n");
  assert.deepEqual([off.clusterNetwork, off.outsideInterface], [false, 'eth1']);
  assert.equal(parseSfldConfig("hostname = '10.1.2.3'\nmaster_host = '::1'\n").masterHost, '::1');
  assert.equal(parseSfldConfig("hostname = 'node1'\nguest_call_rate = 20\n").guestCallRate, 20);
});

test('wrong sfld.cfg settings', () => {
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
    'allowed keys: hostname, master_host, master_port, local_listen_port, guest_call_rate',
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
