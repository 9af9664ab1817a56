// Applies prisma/migrations/*/migration.sql to a SQLite file at sfmd start, recording each in
// Prisma's own `_prisma_migrations` table (same checksum) so the Prisma CLI agrees with what ran.
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export const MIGRATIONS_DIR = path.join(import.meta.dirname, 'migrations');

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

const BOOKKEEPING_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

function listMigrations(dir: string): { name: string; sql: string; checksum: string }[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/**
 * Brings the database at `file` up to date. Each migration runs in its own transaction, so a crash
 * mid-way leaves the previous schema intact and the next start retries. A migration recorded with a
 * different checksum means someone edited an applied migration: refuse rather than guess.
 */
export function migrateDatabase(file: string, dir: string = MIGRATIONS_DIR): MigrationResult {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(BOOKKEEPING_TABLE);
    const done = new Map<string, string>(
      (
        db
          .prepare(`SELECT migration_name, checksum FROM "_prisma_migrations"
                   WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`)
          .all() as { migration_name: string; checksum: string }[]
      ).map((row) => [row.migration_name, row.checksum]),
    );
    const result: MigrationResult = { applied: [], alreadyApplied: 0 };
    for (const migration of listMigrations(dir)) {
      const recorded = done.get(migration.name);
      if (recorded !== undefined) {
        if (recorded !== migration.checksum) {
          throw new Error(
            `migration ${migration.name} was changed after it was applied to ${file}; ` +
              'restore the original migration.sql and add a new migration instead',
          );
        }
        result.alreadyApplied++;
        continue;
      }
      db.transaction(() => {
        db.exec(migration.sql);
        db.prepare(`INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
                    VALUES (?, ?, current_timestamp, ?, 1)`).run(randomUUID(), migration.checksum, migration.name);
      })();
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    db.close();
  }
}
