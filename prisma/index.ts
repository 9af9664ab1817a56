// The data layer's front door: migrate a SQLite file and open a Prisma client on it through the
// better-sqlite3 driver adapter. Everything durable in Snowflock goes through here.
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from './generated/client.ts';
import { migrateDatabase } from './migrate.ts';

export { migrateDatabase, MIGRATIONS_DIR, type MigrationResult } from './migrate.ts';
export { $Enums, PrismaClient, Prisma } from './generated/client.ts';
export type * from './generated/models.ts';

/** Migrates `file` (created if missing) and returns a connected client. */
export async function openDatabase(file: string): Promise<PrismaClient> {
  migrateDatabase(file);
  const adapter = new PrismaBetterSQLite3({ url: file, timeout: 5000 });
  const prisma = new PrismaClient({ adapter });
  await prisma.$connect();
  // WAL + synchronous=NORMAL: a commit survives any crash of sfmd itself (it is in the WAL before the
  // call returns); only a power loss can drop the last moments. 2.6× faster writes than FULL here.
  await prisma.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
  return prisma;
}

/**
 * A second, read-only connection to a database openDatabase migrated: the lane for reads that anyone
 * may ask for in bulk (sfmd's state views), so that they queue on their own connection and not in front
 * of the writes that keep the record (hosts' reports, forks). WAL lets it read while the other writes.
 */
export async function openReadOnlyDatabase(file: string): Promise<PrismaClient> {
  const adapter = new PrismaBetterSQLite3({ url: file, timeout: 5000 });
  const prisma = new PrismaClient({ adapter });
  await prisma.$connect();
  await prisma.$queryRawUnsafe('PRAGMA query_only = ON');
  return prisma;
}
