// One host in the Host View: state and KVM capability, cpus and RAM (capacity, reserved by Snowflock, in use on
// the machine), the batch scheduler's count when one places clones, CPU and memory charts, the domains there.
import Link from 'next/link';
import type { DomainRow, HostInfo, HostMetrics } from '../../lib/api-types.ts';
import { formatBytes, formatDuration, formatPercent } from '../../lib/format.ts';
import { cpuSeries, memorySeries } from '../../lib/series.ts';
import { LineChart } from '../line-chart.tsx';
import { Time } from '../time-zone.tsx';
import { Meter, StateBadge } from '../ui.tsx';

interface Registration {
  kernelRelease?: string;
  kvm?: { available?: boolean; error?: string | null };
  cpus?: number;
}

export function HostCard({ host, domains, samples, now }: { host: HostInfo; domains: DomainRow[]; samples: HostMetrics[]; now: number }) {
  const caps = host.capabilities as Registration;
  const latest = samples[samples.length - 1] ?? null;
  const memTotal = latest?.memTotal ?? host.ram;
  const memInUse = latest ? latest.memTotal - latest.memAvailable : null;
  const end = Math.max(latest?.sampledAt ?? 0, host.state === 'online' ? now : 0) || now;
  const online = host.state === 'online';
  return (
    <article className={`card host host--${host.state}`} data-testid={`host-${host.name}`} data-state={host.state}>
      <header className="host__head">
        <h2>{host.name}</h2>
        <StateBadge state={host.state} />
        {host.registeredAt &&
          (caps.kvm?.available ? (
            <span className="badge badge--ok" title="this host's sfld can run VMs">
              KVM
            </span>
          ) : (
            <span className="badge badge--bad" title={caps.kvm?.error ?? undefined}>
              no KVM
            </span>
          ))}
        {(host.unicast !== host.name || host.multicast !== host.unicast) && (
          <span className="host__addr">
            {host.unicast}
            {host.multicast !== host.unicast ? ` · multicast ${host.multicast}` : ''}
          </span>
        )}
      </header>
      {!online && (
        <p className="host__note" role="status">
          {host.state === 'removed' ? (
            'No longer in cluster_hosts of sfmd.cfg.'
          ) : (
            <>
              sfld is not connected{host.lastSeen ? <Time iso={host.lastSeen} prefix=" (last heard " /> : null}
              {host.lastSeen ? ')' : ''}: run <code>sfld start</code> on this host.
            </>
          )}
        </p>
      )}
      <div className="host__meters">
        <Meter
          label="CPUs"
          used={host.cpusUsed}
          total={host.cpus}
          text={`${host.cpusUsed} of ${host.cpus} reserved${online && latest ? ` · ${formatPercent(latest.cpuUtilization)} busy` : ''}`}
        />
        <Meter
          label="RAM"
          used={host.ramUsed}
          total={host.ram}
          text={`${formatBytes(host.ramUsed)} of ${formatBytes(host.ram)} reserved${online && memInUse !== null ? ` · ${formatBytes(memInUse)} in use` : ''}`}
        />
      </div>
      {host.scheduler && (
        <p className="host__sched" data-testid={`scheduler-${host.name}`}>
          {host.allocator === 'sge' ? 'Grid Engine' : 'Slurm'} node <code>{host.scheduler.node}</code>: {host.scheduler.bySnowflock} of{' '}
          {host.scheduler.cpus} CPUs held for Snowflock, {host.scheduler.byOthers} by the site&apos;s other jobs
        </p>
      )}
      <div className="host__charts">
        <LineChart
          title="CPU busy"
          points={cpuSeries(samples)}
          end={end}
          yMax={1}
          format={formatPercent}
          tone="cpu"
          testId={`cpu-chart-${host.name}`}
          stale={!online}
        />
        <LineChart
          title="Memory in use"
          points={memorySeries(samples)}
          end={end}
          yMax={memTotal}
          format={formatBytes}
          tone="mem"
          testId={`mem-chart-${host.name}`}
          stale={!online}
        />
      </div>
      <section className="host__domains" aria-label={`domains on ${host.name}`}>
        <h3>
          Domains here <span className="count">{domains.length}</span>
        </h3>
        {domains.length === 0 ? (
          <p className="muted">None running. Seed a cluster to start one.</p>
        ) : (
          <ul className="chips">
            {domains.map((d) => (
              <li key={d.domain}>
                <Link href={`/clusters/${d.clusterid}`} className="chip" data-testid={`host-domain-${d.domain}`}>
                  <span className="chip__id">{d.domain}</span> <StateBadge state={d.state} />
                </Link>
              </li>
            ))}
          </ul>
        )}
      </section>
      <footer className="host__foot muted">
        {caps.kernelRelease && <span>Linux {caps.kernelRelease}</span>}
        {latest && online && <span>load {latest.load1.toFixed(2)}</span>}
        {host.metrics && online && <span>up {formatDuration(host.metrics.uptimeSeconds * 1000)}</span>}
      </footer>
    </article>
  );
}
