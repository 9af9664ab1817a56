// Free capacity per online host = configured cpus/RAM − live domains − reservations of unused
// tickets, and the clones each already holds (live ones and unused reservations, every cluster's) for the
// allocator's balance rule. Outstanding tickets are not counted twice: their reservations became domains.
import type { HostCapacity } from './allocator/index.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES } from './store/states.ts';

type Db = MasterServices['db'];
type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export async function freeCapacity(db: Db | Tx): Promise<HostCapacity[]> {
  // Only what capacity needs: a host row's capabilities (its whole registration) is kilobytes, and every
  // ticket request reads all online hosts.
  const hosts = await db.host.findMany({
    where: { state: 'online' },
    orderBy: { name: 'asc' },
    select: { id: true, name: true, cpus: true, ram: true },
  });
  const domainUse = await db.domain.groupBy({
    by: ['hostId'],
    where: { state: { in: [...LIVE_DOMAIN_STATES] } },
    _sum: { vcpus: true, memory: true },
  });
  const reserved = await db.allocation.groupBy({
    by: ['hostId'],
    where: { ticket: { state: 'unused' } },
    _sum: { processors: true, memory: true },
  });
  const liveClones = await db.domain.groupBy({
    by: ['hostId'],
    where: { state: { in: [...LIVE_DOMAIN_STATES] }, vmid: { gt: 0 } },
    _count: { _all: true },
  });
  const reservedClones = await db.allocation.groupBy({ by: ['hostId'], where: { ticket: { state: 'unused' } }, _count: { _all: true } });
  const clones = new Map<string, number>();
  for (const row of [...liveClones, ...reservedClones]) clones.set(row.hostId, (clones.get(row.hostId) ?? 0) + row._count._all);
  const used = new Map<string, { cpus: number; ram: number }>();
  const add = (hostId: string, cpus: number | null, ram: bigint | null) => {
    const entry = used.get(hostId) ?? { cpus: 0, ram: 0 };
    entry.cpus += cpus ?? 0;
    entry.ram += Number(ram ?? 0n);
    used.set(hostId, entry);
  };
  for (const row of domainUse) add(row.hostId, row._sum.vcpus, row._sum.memory);
  for (const row of reserved) add(row.hostId, row._sum.processors, row._sum.memory);
  return hosts.map((host) => {
    const use = used.get(host.id) ?? { cpus: 0, ram: 0 };
    return {
      hostId: host.id,
      name: host.name,
      cpusFree: host.cpus - use.cpus,
      ramFree: Number(host.ram) - use.ram,
      running: clones.get(host.id) ?? 0,
    };
  });
}
