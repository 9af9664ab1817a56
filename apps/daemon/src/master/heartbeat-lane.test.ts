// The heartbeat lane on a fake clock: gaps and late beats, the silence judgement, sfmd's own stalls
// never counting as a host's silence, and lastSeen written to the record only now and then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { masterFixture, GiB } from '../../test/support.ts';
import { HeartbeatLane } from './heartbeat-lane.ts';
import { recordHeartbeat } from './hosts.ts';

function fakeLane(options: { watch?: boolean } = {}) {
  const clock = { t: 0 };
  const warnings: { stalls: number; longestMs: number; msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const lane = new HeartbeatLane({ timing: { heartbeatMs: 1000, offlineAfterMs: 3000 }, log, now: () => clock.t });
  if (options.watch !== false) lane.watchLoop('manual');
  /** Moves the clock to `until` with the monitor ticking every tickMs on the way (a loop that is free). */
  const run = (until: number) => {
    while (clock.t + lane.tickMs <= until) {
      clock.t += lane.tickMs;
      lane.observeLoop();
    }
    clock.t = until;
  };
  return { clock, lane, run, warnings };
}

test('gaps between beats, and which are late (over 1.5 heartbeat intervals) as read and as sent', () => {
  const { lane, run } = fakeLane();
  lane.registered('a');
  // sentAt by sfld's clock (another host's: offset). The third was sent on time but read late; the fourth
  // was sent late (its host was busy) and read on time.
  const sent = [50_980, 51_990, 52_990, 54_700];
  for (const [i, at] of [1000, 2000, 3700, 4700].entries()) {
    run(at);
    lane.beat('a', sent[i]);
  }
  assert.deepEqual(lane.figures('a'), {
    lastAt: new Date(4700).toISOString(),
    lastGapMs: 1000,
    maxGapMs: 1700,
    beats: 4,
    late: 1,
    lateWhileSfmdStalled: 0,
    sentLate: 1,
  });
  assert.equal(lane.figures('never-heard'), null);
});

test('a host is silent after offlineAfterMs without a beat, and not before', () => {
  const { lane, run } = fakeLane();
  lane.registered('a');
  run(2000);
  lane.beat('a');
  run(4999);
  assert.equal(lane.silence('a', null).silent, false);
  run(5001);
  assert.deepEqual(lane.silence('a', null), { silent: true, countedMs: 3001, heardAt: 2000 });
});

test("sfmd's own stall is no host's silence: after it every host gets a full offlineAfterMs", () => {
  const { clock, lane, run, warnings } = fakeLane();
  lane.registered('a');
  run(900);
  lane.beat('a');
  run(1000);
  // A 6 s stall: when it ends, Node runs the sweeper's timer before the monitor ticks and before it
  // reads the beats waiting in the socket. The judgement sees the stall itself.
  clock.t = 7000;
  assert.deepEqual(lane.silence('a', null), { silent: false, countedMs: 0, heardAt: 900 });
  assert.deepEqual(lane.loop(), { loopStallMaxMs: 5900, loopStalls: 1 });
  assert.equal(warnings.length, 1);
  assert.deepEqual([warnings[0]!.stalls, warnings[0]!.longestMs], [1, 5900]);
  assert.match(warnings[0]!.msg, /stalled 5900 ms: no host is judged silent for it/);

  // The beat that waited is read now: late, and late because sfmd was stalled.
  clock.t = 7005;
  lane.beat('a');
  assert.equal(lane.figures('a')!.late, 1);
  assert.equal(lane.figures('a')!.lateWhileSfmdStalled, 1);

  // A host that really fell silent is still found: offlineAfterMs of awake time after the resume.
  lane.registered('b', 500);
  run(9999);
  assert.equal(lane.silence('b', null).silent, false);
  run(10_001);
  assert.deepEqual(lane.silence('b', null), { silent: true, countedMs: 3001, heardAt: 500 });

  // A beat read during a stall's aftermath sees it too (a stall inside the poll phase, before any timer).
  lane.beat('a');
  clock.t = 12_000;
  lane.beat('a');
  assert.deepEqual(lane.figures('a')!.lateWhileSfmdStalled, 2);
  assert.equal(lane.loop().loopStalls, 2);
  assert.equal(warnings.length, 1, 'a second stall within 10 s of the first warning is not warned about at once');
  run(16_950);
  assert.equal(warnings.length, 1);
  run(17_050);
  assert.equal(warnings.length, 2, 'but 10 s after the first warning');
  assert.deepEqual([warnings[1]!.stalls, warnings[1]!.longestMs], [1, 1899]);
});

test('a lag under a quarter of the heartbeat interval is no stall; unwatched, a gap between observations says nothing', () => {
  const { clock, lane, run } = fakeLane();
  lane.registered('a');
  run(1000);
  clock.t += lane.tickMs + 240;
  lane.observeLoop();
  assert.equal(lane.loop().loopStalls, 0);

  const unwatched = fakeLane({ watch: false });
  unwatched.lane.registered('a');
  unwatched.clock.t = 5000;
  assert.equal(unwatched.lane.silence('a', null).silent, true, 'no monitor ran: the 5 s are not known to be a stall');
  assert.equal(unwatched.lane.loop().loopStalls, 0);
});

test("the record's lastSeen is the fallback for a host not heard since sfmd started; the start-up grace holds", () => {
  const { clock, lane } = fakeLane({ watch: false });
  clock.t = 10_000;
  assert.deepEqual(lane.silence('a', new Date(6000)), { silent: true, countedMs: 4000, heardAt: 6000 });
  assert.equal(lane.silence('a', new Date(8000)).silent, false);
  assert.deepEqual(lane.silence('b', null), { silent: true, countedMs: Number.POSITIVE_INFINITY, heardAt: null });
  lane.grace(9000);
  assert.equal(lane.silence('a', new Date(6000)).silent, false);
  assert.equal(lane.silence('b', null).silent, false);
  clock.t = 12_001;
  assert.equal(lane.silence('b', null).silent, true);
});

test('lastSeen is due for the record at most every offlineAfterMs/3 per host', () => {
  const { lane, run } = fakeLane();
  lane.registered('a');
  const due: number[] = [];
  for (const at of [500, 999, 1000, 1500, 1999, 2100, 2500]) {
    run(at);
    if (lane.beat('a').persist) due.push(at);
  }
  assert.deepEqual(due, [1000, 2100]);
  assert.equal(lane.beat('new').persist, true, 'a host first heard since sfmd started is checked against the record');
});

test('a heartbeat is recorded without the database; the admin view shows its figures and when it was last heard', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 2, ram: GiB }]);
  t.after(() => f.close());
  await f.online('alpha');
  const row = async () => (await f.svc.db.host.findUniqueOrThrow({ where: { name: 'alpha' } })).lastSeen!.getTime();
  const registeredAt = await row();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await recordHeartbeat(f.svc, 'alpha', { seq: 1, sentAt: Date.now() }), null);
  assert.equal(await row(), registeredAt, 'a beat within offlineAfterMs/3 of the last write is not written');
  const [host] = await (await f.admin()).state.hosts();
  assert.ok(host!.heartbeat && host!.heartbeat.beats === 1 && host!.heartbeat.lastGapMs! >= 15, JSON.stringify(host!.heartbeat));
  assert.equal(host!.lastSeen, host!.heartbeat.lastAt, 'the view says when sfmd last heard it, not when it last wrote that down');
  assert.ok(Date.parse(host!.lastSeen!) > registeredAt);
});
