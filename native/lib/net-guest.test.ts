// The guest SDK's network stack on the real NIC: the netfetch example (lwIP, the polled virtio-net driver, DHCP)
// in a real VM gets its address from the NIC's own DHCP answers, resolves the gateway by ARP through a real tap
// and bridge, and fetches 300 kB over HTTP from a server on the host, checking the bytes it got.
// Needs /dev/kvm, root and /dev/net/tun; skips with the reason otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { skipUnlessKvm } from './kvm-test-skip.ts';
import { VirtualMachine } from './vm.ts';

const NETFETCH = fileURLToPath(new URL('../guest/build/bin/netfetch.elf', import.meta.url));

function cannotMakeTaps(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to make a bridge and a tap (ip link)';
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
    return null;
  } catch (error) {
    return `/dev/net/tun cannot be opened: ${(error as Error).message}`;
  }
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/** FNV-1a over the bytes, as netfetch prints it. */
function fnv1a(bytes: Buffer): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `0x${h.toString(16).padStart(8, '0')}`;
}

test('a flat guest fetches over HTTP through its NIC, a tap and a bridge, with the address the NIC gave it', async (t) => {
  if (skipUnlessKvm(t, { images: [NETFETCH] })) return;
  const why = cannotMakeTaps();
  if (why) return void t.skip(why);
  const suffix = String(process.pid % 100000);
  const bridge = `sfgb${suffix}`;
  const tap = `sfgt${suffix}`;
  ip('link', 'add', bridge, 'type', 'bridge');
  t.after(() => {
    for (const dev of [tap, bridge]) execFileSync('ip', ['link', 'del', dev], { stdio: 'ignore' });
  });
  ip('addr', 'add', '198.18.77.254/24', 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
  ip('link', 'set', tap, 'master', bridge);
  ip('link', 'set', tap, 'up');
  const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, '198.18.77.254', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const vm = await VirtualMachine.create({
    memoryMiB: 64,
    image: NETFETCH,
    cmdline: `url=http://198.18.77.254:${port}/data timeout=20`,
    net: { tap, mac: '02:00:00:4d:00:01', ip: '198.18.77.1', prefixLength: 24, gateway: '198.18.77.254', dns: [] },
  });
  t.after(() => vm.destroy());
  const chunks: Buffer[] = [];
  vm.on('console', (c) => chunks.push(c));
  await vm.boot();
  const end = await vm.waitForExit(30_000);
  const console = Buffer.concat(chunks).toString();
  assert.equal(end.exitCode, 0, console);
  assert.match(console, new RegExp(`netfetch: HTTP/1\\.1 200 OK body=${body.length} fnv1a=${fnv1a(body)}`));
  const stats = vm.netStats();
  assert.ok(stats, 'the VM has a NIC');
  assert.equal(stats.dhcpAnswers, 2, 'an OFFER and an ACK, from the NIC itself');
  assert.ok(stats.rxBytes >= body.length, `${stats.rxBytes} bytes received`);
  assert.deepEqual([stats.rxDrops, stats.txDrops, stats.badChains], [0, 0, 0]);
});
