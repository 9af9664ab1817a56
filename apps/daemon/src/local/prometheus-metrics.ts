// sfld's Prometheus registry: this host's CPU, memory and VMs by state, its guest calls, and its data
// plane summed over its VMs (faults and their service times, memservers, page sources and mirror, NICs,
// disks). Every series carries the host's name and nothing finer: no cluster, VM, page or request label.
import os from 'node:os';
import { FAULT_TIME_BUCKETS } from '@snowflock/native';
import { collectDefaultMetrics } from 'prom-client';
import { REPORTED_VM_STATES } from '../common/states.ts';
import { CachedReading, Registry, type Series, scrapedCounter, scrapedGauge, scrapedHistogram } from '../common/prometheus.ts';
import type { GuestCallCounts } from './guest-call-limit.ts';
import { type DataPlaneFigures, emptyCounters } from './host-totals.ts';
import { readMemAvailable } from './metrics.ts';

/** What the registry reads of this sfld. */
export interface SfldFigureSource {
  dataPlane(): DataPlaneFigures;
  inventory(): ReadonlyArray<{ state: string }>;
  readonly guestCalls: GuestCallCounts;
  readonly shellCount: number;
}

/** [metric name, help, the figures' series]: one counter each. */
type CounterTable = ReadonlyArray<readonly [string, string, (f: DataPlaneFigures) => Series[]]>;

const one = (value: number): Series[] => [[{}, value]];

const DATA_PLANE_COUNTERS: CounterTable = [
  ['snowflock_page_faults_total', "Page faults of lazy clones served by this host's memtaps.", (f) => one(f.faults)],
  [
    'snowflock_clone_pages_fetched_total',
    "Pages filled into clones' memory from their snapshot (faults and prefetch).",
    (f) => one(f.pagesFetched),
  ],
  [
    'snowflock_clone_zero_pages_total',
    'Clone pages zero-filled without a copy (snapshot holes and fresh-page hints).',
    (f) => one(f.zeroPages),
  ],
  ['snowflock_clone_pages_prefetched_total', 'Clone pages filled by prefetch before the guest touched them.', (f) => one(f.prefetched)],
  ['snowflock_clone_fresh_page_hints_total', 'Pages guests named as about to be overwritten: never fetched.', (f) => one(f.freshHints)],
  ['snowflock_memserver_requests_total', "Page requests this host's memservers answered.", (f) => one(f.memserverRequests)],
  ['snowflock_memserver_pages_served_total', "Pages this host's memservers sent (data and zero).", (f) => one(f.memserverPagesServed)],
  ['snowflock_memserver_sent_bytes_total', "UDP payload bytes this host's memservers sent.", (f) => one(f.memserverBytesSent)],
  [
    'snowflock_memserver_datagrams_total',
    "Datagrams this host's memservers sent, to the multicast group or to one requester.",
    (f) => [
      [{ delivery: 'multicast' }, f.memserverMulticastDatagrams],
      [{ delivery: 'unicast' }, f.memserverUnicastDatagrams],
    ],
  ],
  [
    'snowflock_memserver_drops_total',
    "Requests or datagrams this host's memservers dropped: malformed or forged, past the snapshot, refused by the kernel, or over a full send queue.",
    (f) => [
      [{ reason: 'malformed' }, f.memserverDropped],
      [{ reason: 'out_of_range' }, f.memserverOutOfRange],
      [{ reason: 'send_error' }, f.memserverSendErrors],
      [{ reason: 'backlog_full' }, f.memserverBacklogFull],
    ],
  ],
  [
    'snowflock_working_set_streams_total',
    'Working-set streams to new clients: started, or refused (too many at once).',
    (f) => [
      [{ outcome: 'started' }, f.streamsStarted],
      [{ outcome: 'refused' }, f.streamsRefused],
    ],
  ],
  ['snowflock_working_set_streamed_pages_total', 'Pages sent by working-set streams ahead of any request.', (f) => one(f.streamedPages)],
  [
    'snowflock_mirror_lookups_total',
    "Pages remote clones here looked up in this host's mirror: found (no request sent) or missed.",
    (f) => [
      [{ result: 'hit' }, f.mirrorHits],
      [{ result: 'miss' }, f.mirrorMisses],
    ],
  ],
  ['snowflock_page_source_requests_total', 'Page requests sent to remote memservers (retries included).', (f) => one(f.sourceRequestsSent)],
  ['snowflock_page_source_received_bytes_total', 'UDP payload bytes received from remote memservers.', (f) => one(f.sourceBytesReceived)],
  ['snowflock_page_source_datagrams_total', 'Datagrams received from remote memservers.', (f) => one(f.sourceDatagramsReceived)],
  ['snowflock_page_source_drops_total', 'Malformed, foreign or forged page datagrams dropped here.', (f) => one(f.sourceDropped)],
  ['snowflock_page_source_timeouts_total', 'Page fetches from remote memservers that gave up.', (f) => one(f.sourceTimeouts)],
  ['snowflock_nic_receive_bytes_total', "Bytes delivered to VMs' NICs (sum over this host's VMs).", (f) => one(f.rxBytes)],
  ['snowflock_nic_transmit_bytes_total', "Bytes VMs' NICs sent (sum over this host's VMs).", (f) => one(f.txBytes)],
  ['snowflock_nic_receive_packets_total', "Packets delivered to VMs' NICs.", (f) => one(f.rxPackets)],
  ['snowflock_nic_transmit_packets_total', "Packets VMs' NICs sent.", (f) => one(f.txPackets)],
  [
    'snowflock_nic_drops_total',
    "Packets VMs' NICs dropped, by direction (transmit includes malformed chains).",
    (f) => [
      [{ direction: 'receive' }, f.rxDrops],
      [{ direction: 'transmit' }, f.txDrops],
    ],
  ],
  ['snowflock_disk_reads_total', "Read requests of VMs' disks.", (f) => one(f.diskReads)],
  ['snowflock_disk_writes_total', "Write requests of VMs' disks.", (f) => one(f.diskWrites)],
  ['snowflock_disk_read_bytes_total', 'Bytes VMs read from their disks.', (f) => one(f.diskReadBytes)],
  ['snowflock_disk_written_bytes_total', 'Bytes VMs wrote to their disks.', (f) => one(f.diskWrittenBytes)],
];

/** CPU seconds of every CPU together by mode, as the kernel counts them. */
function cpuSeconds(): Series[] {
  const sum = { user: 0, nice: 0, system: 0, idle: 0, irq: 0 };
  for (const cpu of os.cpus()) {
    sum.user += cpu.times.user;
    sum.nice += cpu.times.nice;
    sum.system += cpu.times.sys;
    sum.idle += cpu.times.idle;
    sum.irq += cpu.times.irq;
  }
  return Object.entries(sum).map(([mode, ms]) => [{ mode }, ms / 1000] as const);
}

/** The registry of one sfld; `freshMs` bounds how often the VMs' counters are read, however many scrape. */
export function sfldMetrics(hostname: string, source: SfldFigureSource, freshMs = 1000): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ host: hostname });
  const figures = new CachedReading(() => source.dataPlane(), freshMs);
  const read = (pick: (f: DataPlaneFigures) => Series[]) => async () => pick(await figures.get());

  scrapedGauge(registry, 'snowflock_host_cpus', 'CPUs of this host.', [], async () => one(os.cpus().length));
  scrapedCounter(registry, 'snowflock_host_cpu_seconds_total', "CPU time of this host's CPUs together, by mode.", ['mode'], async () =>
    cpuSeconds(),
  );
  scrapedGauge(registry, 'snowflock_host_load1', "This host's 1-minute load average.", [], async () => one(os.loadavg()[0] ?? 0));
  scrapedGauge(registry, 'snowflock_host_memory_bytes', "This host's memory.", [], async () => one(os.totalmem()));
  scrapedGauge(
    registry,
    'snowflock_host_memory_available_bytes',
    "This host's memory available to new work (MemAvailable).",
    [],
    async () => one(readMemAvailable()),
  );
  scrapedGauge(registry, 'snowflock_host_vms', 'VMs on this host, by state.', ['state'], async () => {
    const counts = new Map<string, number>(REPORTED_VM_STATES.map((s) => [s, 0]));
    for (const { state } of source.inventory()) counts.set(state, (counts.get(state) ?? 0) + 1);
    return [...counts].map(([state, n]) => [{ state }, n] as const);
  });
  scrapedGauge(registry, 'snowflock_host_clone_shells', 'Clone shells held ready (or being made) for granted tickets.', [], async () =>
    one(source.shellCount),
  );
  scrapedCounter(
    registry,
    'snowflock_guest_calls_total',
    "Seed API calls of this host's VMs: sent on to sfmd, or refused by the per-VM limit.",
    ['outcome'],
    async () => [
      [{ outcome: 'sent' }, source.guestCalls.calls],
      [{ outcome: 'refused' }, source.guestCalls.refused],
    ],
  );
  scrapedCounter(
    registry,
    'snowflock_guest_calls_delayed_total',
    'Seed API calls held back by the per-VM limit before going on.',
    [],
    async () => one(source.guestCalls.delayed),
  );

  const none: DataPlaneFigures = { ...emptyCounters(), memserversRunning: 0, streamsActive: 0 };
  for (const [name, help, pick] of DATA_PLANE_COUNTERS) {
    const labelNames = [...new Set(pick(none).flatMap(([labels]) => Object.keys(labels)))];
    scrapedCounter(registry, name, help, labelNames, read(pick));
  }
  scrapedHistogram(
    registry,
    'snowflock_page_fault_duration_seconds',
    "Service time of lazy clones' page faults on this host, from the fault read to the page mapped.",
    async () => {
      const f = await figures.get();
      return { buckets: FAULT_TIME_BUCKETS.map(([, bound], i) => [bound, f.faultTimes[i] ?? 0] as const), sum: f.faultNsSum / 1e9 };
    },
  );
  scrapedGauge(
    registry,
    'snowflock_memservers_running',
    'Memservers serving snapshots from this host.',
    [],
    read((f) => one(f.memserversRunning)),
  );
  scrapedGauge(
    registry,
    'snowflock_working_set_streams_active',
    'Working-set streams sending now.',
    [],
    read((f) => one(f.streamsActive)),
  );
  collectDefaultMetrics({ register: registry, prefix: 'snowflock_sfld_' });
  return registry;
}
