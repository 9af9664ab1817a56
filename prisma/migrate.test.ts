// The migrator: creates the schema once, is idempotent, refuses an edited migration, and leaves
// the database in a state Prisma's own CLI calls up to date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrateDatabase, MIGRATIONS_DIR, openDatabase } from './index.ts';

function tempDir() {
  return mkdtempSync(path.join(os.tmpdir(), 'sf-migrate-'));
}

test('migrates a new file once, then finds nothing to do', (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'db.sqlite');
  const first = migrateDatabase(file);
  assert.ok(first.applied.length >= 1);
  assert.deepEqual(migrateDatabase(file), { applied: [], alreadyApplied: first.applied.length });
  const db = new Database(file);
  const tables = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((r) => r.name);
  db.close();
  for (const table of ['Allocation', 'Cluster', 'Domain', 'Host', 'Operation', 'Ticket']) assert.ok(tables.includes(table), table);
});

test('an applied migration that was edited afterwards is refused', (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const migrations = path.join(dir, 'migrations');
  cpSync(MIGRATIONS_DIR, migrations, { recursive: true });
  const file = path.join(dir, 'db.sqlite');
  migrateDatabase(file, migrations);
  const first = '20261123100000_init';
  appendFileSync(path.join(migrations, first, 'migration.sql'), '\n-- edited\n');
  assert.throws(() => migrateDatabase(file, migrations), /was changed after it was applied/);
});

test('a failing migration rolls back and is retried on the next start', (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const migrations = path.join(dir, 'migrations');
  cpSync(MIGRATIONS_DIR, migrations, { recursive: true });
  const file = path.join(dir, 'db.sqlite');
  migrateDatabase(file, migrations);
  const broken = path.join(migrations, '29990101000000_broken');
  cpSync(path.join(migrations, '20261123100000_init'), broken, { recursive: true });
  writeFileSync(path.join(broken, 'migration.sql'), 'CREATE TABLE "Extra" ("id" TEXT);\nTHIS IS NOT SQL;\n');
  assert.throws(() => migrateDatabase(file, migrations));
  const db = new Database(file);
  assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'Extra'").get() as { n: number }).n, 0, 'rolled back');
  db.close();
  writeFileSync(path.join(broken, 'migration.sql'), 'CREATE TABLE "Extra" ("id" TEXT);\n');
  assert.deepEqual(migrateDatabase(file, migrations).applied, ['29990101000000_broken']);
});

test("Prisma's CLI agrees the migrated database is up to date, and the client works on it", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'db.sqlite');
  const prisma = await openDatabase(file);
  t.after(() => prisma.$disconnect());
  await prisma.host.create({ data: { name: 'n1', unicast: 'n1', multicast: 'n1', cpus: 2, ram: 3n << 30n, secretHash: 'x' } });
  assert.equal((await prisma.host.findUniqueOrThrow({ where: { name: 'n1' } })).ram, 3n << 30n);
  const status = execFileSync(path.join(import.meta.dirname, '..', 'node_modules', '.bin', 'prisma'), ['migrate', 'status'], {
    cwd: import.meta.dirname,
    env: { ...process.env, SNOWFLOCK_DATABASE_URL: `file:${file}` },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.match(status, /Database schema is up to date/);
});

test('states recorded before the state enums are brought into their lists, so every row reads back', (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const before = path.join(dir, 'migrations');
  cpSync(MIGRATIONS_DIR, before, { recursive: true });
  rmSync(path.join(before, '20261207040000_states_in_their_lists'), { recursive: true });
  const file = path.join(dir, 'db.sqlite');
  migrateDatabase(file, before);
  const db = new Database(file);
  db.exec(`
    INSERT INTO "Host" (id, name, unicast, multicast, cpus, ram, secretHash, state) VALUES ('h', 'alpha', 'a', 'a', 2, 1, 'x', 'busy');
    INSERT INTO "Cluster" (id, clusterid, seedConfig, state) VALUES ('c', 1, '{}', 'running');
    INSERT INTO "Domain" (id, clusterId, vmid, hostId, vcpus, memory, state) VALUES
      ('d0', 'c', 0, 'h', 1, 1, 'created'), ('d1', 'c', 1, 'h', 1, 1, 'destroyed'), ('d2', 'c', 2, 'h', 1, 1, 'exploded'),
      ('d3', 'c', 3, 'h', 1, 1, 'paused');
  `);
  db.close();
  assert.deepEqual(migrateDatabase(file).applied, ['20261207040000_states_in_their_lists']);
  const after = new Database(file);
  const states = after.prepare<[], { id: string; state: string }>('SELECT id, state FROM "Domain" ORDER BY id').all();
  const host = after.prepare<[], { state: string }>(`SELECT state FROM "Host"`).get();
  after.close();
  assert.deepEqual(
    states.map((r) => [r.id, r.state]),
    [
      ['d0', 'running'],
      ['d1', 'stopped'],
      ['d2', 'lost'],
      ['d3', 'paused'],
    ],
  );
  assert.equal(host?.state, 'offline');
});

test('operations recorded before they had a cluster column get their cluster from target, ticket or requester', (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const before = path.join(dir, 'migrations');
  cpSync(MIGRATIONS_DIR, before, { recursive: true });
  rmSync(path.join(before, '20261207115000_ops_index'), { recursive: true });
  const file = path.join(dir, 'db.sqlite');
  migrateDatabase(file, before);
  const db = new Database(file);
  db.exec(`
    INSERT INTO "Cluster" (id, clusterid, seedConfig, state) VALUES ('c', 12, '{}', 'running');
    INSERT INTO "Ticket" (id, clusterId, requested, granted, procs, min, state, updatedAt)
      VALUES ('8f8a3c4e-0d7b-4a53-9d0b-2f1c1e4b9a10', 'c', 2, 2, 0, 1, 'merged', 0);
    INSERT INTO "Operation" (id, kind, target, requester) VALUES
      ('o1', 'cluster.shutdown', 'cluster:7', 'admin'),
      ('o2', 'domain.kill', 'domain:31:2', 'admin'),
      ('o3', 'clone.merge', 'ticket:8f8a3c4e-0d7b-4a53-9d0b-2f1c1e4b9a10', 'admin'),
      ('o4', 'ticket.dispose', 'ticket:00000000-0000-4000-8000-000000000000', 'domain:5:0'),
      ('o5', 'host.register', 'alpha', 'host:alpha'),
      ('o6', 'cluster.seed', 'new cluster', 'admin');
  `);
  db.close();
  assert.deepEqual(migrateDatabase(file).applied, ['20261207115000_ops_index']);
  const after = new Database(file);
  const rows = after.prepare<[], { id: string; clusterid: number | null }>('SELECT id, clusterid FROM "Operation" ORDER BY id').all();
  after.close();
  assert.deepEqual(
    rows.map((r) => [r.id, r.clusterid]),
    [
      ['o1', 7],
      ['o2', 31],
      ['o3', 12],
      ['o4', 5],
      ['o5', null],
      ['o6', null],
    ],
  );
});
