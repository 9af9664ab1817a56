// sfld.cfg page_mtu through the sfld's own fork serving (seed §13, jumbo frames): on a page network with
// a 9000-byte MTU a 4 KiB page travels in one datagram, on a 1500-byte one it is split as it always was.
// Needs root (a veth pair stands in for the page network) and KVM (a real fork and remote clone).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { VirtualMachine } from '@snowflock/native';
import { DescriptorShelf } from '../src/local/descriptor-shelf.ts';
import { datagramForMtu, serveFork } from '../src/local/fork-serving.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** What one fork's memserver sent while a remote clone of it started and ran a moment. */
async function serveOnce(master: VirtualMachine, iface: string, pageMtu: number | 'auto' | null) {
  const snapshot = await master.fork();
  try {
    const { memserver, served } = await serveFork(
      snapshot,
      { mode: 'unicast', interface: iface, handoff: { key: '0123456789abcdef', token: 'ab'.repeat(32) } },
      { shelf: new DescriptorShelf(), previous: undefined, lossForTest: 0, pageMtu },
    );
    try {
      const clone = await VirtualMachine.createRemoteClone(snapshot.descriptor(), { vmid: 1, server: `127.0.0.1:${served.memserverPort}` });
      try {
        await clone.resume();
        // The clone prints its greeting and waits for console input: its code and stack pages came over by then.
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        await clone.destroy();
      }
      const s = memserver.stats();
      return { datagrams: s.datagramsSent, dataPages: s.pagesServed - s.zeroPages, pages: s.pagesServed, bytes: s.bytesSent };
    } finally {
      memserver.stop();
    }
  } finally {
    snapshot.release();
  }
}

test('page_mtu maps to the datagram size: the MTU less 28 header bytes, 0 (read it) for auto, the default otherwise', () => {
  assert.equal(datagramForMtu(9000), 8972);
  assert.equal(datagramForMtu(1500), 1472);
  assert.equal(datagramForMtu('auto'), 0);
  assert.equal(datagramForMtu(null), undefined);
  assert.equal(datagramForMtu(undefined), undefined);
});

test('page_mtu: with a 9000-byte page network a page is one datagram, with 1500 it is split', {
  timeout: 60_000,
}, async (t: TestContext) => {
  if (skipIf(t, cannotRunVms() ?? (process.getuid?.() === 0 ? null : 'needs root to make a veth page-network interface'))) return;
  const dev = `sfmtu${process.pid % 100000}`;
  const addr = `198.19.${(process.pid % 200) + 20}.1`;
  const peer = `${dev}p`;
  ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', peer);
  t.after(() => ip('link', 'del', dev));
  ip('addr', 'add', `${addr}/32`, 'dev', dev);
  for (const end of [dev, peer]) ip('link', 'set', end, 'up');
  const setMtu = (mtu: number) => {
    for (const end of [dev, peer]) ip('link', 'set', end, 'mtu', String(mtu));
  };
  const master = await VirtualMachine.create({ memoryMiB: 64, image: guestImage('hello'), cmdline: 'interactive=1' });
  t.after(() => master.destroy());
  await master.boot();

  setMtu(9000);
  const jumbo = await serveOnce(master, addr, 'auto');
  // Every datagram carries a whole page (zero runs carry one or more): never more datagrams than pages.
  assert.ok(jumbo.dataPages > 0, JSON.stringify(jumbo));
  assert.ok(jumbo.datagrams <= jumbo.pages, `MTU 9000 (auto): ${JSON.stringify(jumbo)}`);

  setMtu(1500);
  const plain = await serveOnce(master, addr, 'auto');
  // 1472-byte datagrams carry 1424 bytes of a page each: three per data page.
  assert.ok(plain.dataPages > 0, JSON.stringify(plain));
  assert.ok(plain.datagrams >= 3 * plain.dataPages, `MTU 1500 (auto): ${JSON.stringify(plain)}`);
  // The default (no page_mtu) is the 1500-byte path whatever the interface says; a number wins over the interface.
  setMtu(9000);
  const unset = await serveOnce(master, addr, null);
  assert.ok(unset.datagrams >= 3 * unset.dataPages, `page_mtu unset: ${JSON.stringify(unset)}`);
  const numbered = await serveOnce(master, addr, 9000);
  assert.ok(numbered.datagrams <= numbered.pages, `page_mtu 9000: ${JSON.stringify(numbered)}`);
  console.log(
    `# datagrams per data page: MTU 9000 auto ${(jumbo.datagrams / jumbo.dataPages).toFixed(2)}, ` +
      `MTU 1500 auto ${(plain.datagrams / plain.dataPages).toFixed(2)} (${jumbo.dataPages}/${plain.dataPages} data pages)`,
  );
});
