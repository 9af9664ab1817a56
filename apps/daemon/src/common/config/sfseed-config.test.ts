// sfseed.cfg: the classic file, a kernel-only seed, path resolution on load, and wrong settings failing
// with BAD_CONFIG naming file, line and key.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SfError } from '../errors.ts';
import { loadSfseedConfig, parseSfseedConfig } from './index.ts';

const CLASSIC = `# sfseed.cfg -- what the master VM of a new SnowFlock cluster boots
disk_image = 'images/debian-seed.qcow2'
vcpus = 2
memory = 1024        # MiB
name = 'blast-01'
`;

function bad(text: string, line: number | null, key: string, ...fragments: string[]): void {
  assert.throws(
    () => parseSfseedConfig(text),
    (err: unknown) => {
      assert.ok(err instanceof SfError, String(err));
      assert.equal(err.code, 'BAD_CONFIG');
      assert.ok(err.message.startsWith(line === null ? 'sfseed.cfg: ' : `sfseed.cfg:${line}:`), `line ${line} in: ${err.message}`);
      assert.ok(err.message.includes(key), `key '${key}' in: ${err.message}`);
      for (const f of fragments) assert.ok(err.message.includes(f), `'${f}' in: ${err.message}`);
      return true;
    },
  );
}

test('the classic sfseed.cfg, paths kept as written by parse', () => {
  assert.deepEqual(parseSfseedConfig(CLASSIC), {
    diskImage: 'images/debian-seed.qcow2',
    vcpus: 2,
    memoryMiB: 1024,
    kernel: null,
    args: null,
    name: 'blast-01',
    inboundPorts: [],
  });
});

test('inbound_ports: the master ports the outside may reach through the router', () => {
  assert.deepEqual(parseSfseedConfig("kernel = 'g.elf'\nmemory = 64\ninbound_ports = [80, 0x1F90]\n").inboundPorts, [80, 8080]);
  bad("kernel = 'g.elf'\nmemory = 64\ninbound_ports = [70000]\n", 3, 'inbound_ports[0]', 'port number');
});

test('a kernel-only seed with boot arguments; vcpus defaults to 1', () => {
  const config = parseSfseedConfig("kernel = '/boot/vmlinuz-sf'\nargs = 'console=ttyS0 ' + 'root=/dev/vda1 ro'\nmemory = 256\n");
  assert.deepEqual(config, {
    diskImage: null,
    vcpus: 1,
    memoryMiB: 256,
    kernel: '/boot/vmlinuz-sf',
    args: 'console=ttyS0 root=/dev/vda1 ro',
    name: null,
    inboundPorts: [],
  });
  assert.equal(parseSfseedConfig("disk_image = 'a.img'\nmemory = 512\nargs = ''\n").args, '');
});

test("a flat guest with a data disk keeps both: kernel boots, disk_image is the guest's disk", () => {
  const config = parseSfseedConfig("kernel = 'disktouch.elf'\ndisk_image = 'data.img'\nmemory = 64\n");
  assert.equal(config.kernel, 'disktouch.elf');
  assert.equal(config.diskImage, 'data.img');
});

test('wrong sfseed.cfg settings', () => {
  bad("disk_image = 'a.img'\n", null, 'memory', "missing required setting 'memory'", 'memory = 1024');
  bad('memory = 512\n', null, 'disk_image', "missing required setting 'disk_image'", 'kernel');
  bad('memory = 512\ndisk_image = None\n', 2, 'disk_image', 'disk_image is None');
  bad("disk_image = 'a.img'\nmemory = 8\n", 2, 'memory', 'expected a size in MiB from 16 to 65536, got 8');
  bad("disk_image = 'a.img'\nmemory = 2 << 20\n", 2, 'memory', 'got 2097152');
  bad("disk_image = 'a.img'\nmemory = '512M'\n", 2, 'memory', "got '512M'");
  bad("disk_image = 'a.img'\nmemory = 512\nvcpus = 33\n", 3, 'vcpus', 'expected an integer from 1 to 32, got 33');
  bad("disk_image = 'a.img'\nmemory = 65537\n", 2, 'memory', 'expected a size in MiB from 16 to 65536, got 65537');
  bad("disk_image = 'a.img'\nmemory = 512\nvcpus = -1\n", 3, 'vcpus', 'got -1');
  bad("disk_image = 'a.img'\nmemory = 512\nargs = 'x' * 5000\n", 3, 'args', "cannot apply '*'");
  bad(`disk_image = 'a.img'\nmemory = 512\nargs = '${'x'.repeat(4097)}'\n`, 3, 'args', 'at most 4096');
  bad("disk_image = 'a.img'\nmemory = 512\nname = 'my seed'\n", 3, 'name', "letters, digits, '_', '.' and '-'");
  bad("disk_image = 'a.img\\x00.txt'\nmemory = 512\n", 1, 'disk_image', 'NUL character');
  bad("disk_image = ''\nmemory = 512\n", 1, 'disk_image', 'empty');
  bad(
    "disk_image = 'a.img'\nmemory_mb = 512\n",
    2,
    'memory_mb',
    "unknown key 'memory_mb' (did you mean 'memory'?)",
    'allowed keys: disk_image, vcpus, memory, kernel, args, inbound_ports, name',
  );
  bad("disk_image = 'a.img'\nmemory = 512\nmemory = 1024\n", 3, 'memory', 'already set on line 2');
  bad("disk_image = 'a.img'\nmemory = 512\nkernel = open('/etc/passwd').read()\n", 3, 'kernel', 'function calls');
});

test('loadSfseedConfig resolves relative paths against the config file folder', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sfseed-config-'));
  try {
    await mkdir(path.join(dir, 'seeds'));
    const file = path.join(dir, 'seeds', 'sfseed.cfg');
    await writeFile(file, `${CLASSIC}kernel = '../kernels/vmlinuz'\n`);
    const config = await loadSfseedConfig(file);
    assert.equal(config.diskImage, path.join(dir, 'seeds', 'images', 'debian-seed.qcow2'));
    assert.equal(config.kernel, path.join(dir, 'kernels', 'vmlinuz'));

    await writeFile(file, "disk_image = '/srv/images/seed.qcow2'\nmemory = 512\n");
    assert.equal((await loadSfseedConfig(file)).diskImage, '/srv/images/seed.qcow2');
    assert.equal((await loadSfseedConfig(file)).kernel, null);

    const missing = path.join(dir, 'missing.cfg');
    await assert.rejects(loadSfseedConfig(missing), (err: SfError) => {
      assert.equal(err.code, 'BAD_CONFIG');
      assert.ok(err.message.includes(missing) && err.message.includes('disk_image ='), err.message);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
