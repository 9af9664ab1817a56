// Prisma CLI configuration: the JS engine with the better-sqlite3 driver adapter, so generate,
// migrate deploy/diff and db push all work offline (no engine binaries to download).
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';

const url = process.env.SNOWFLOCK_DATABASE_URL ?? `file:${path.join(import.meta.dirname, 'dev.db')}`;
process.env.SNOWFLOCK_DATABASE_URL = url;

export default defineConfig({
  schema: path.join(import.meta.dirname, 'schema.prisma'),
  migrations: { path: path.join(import.meta.dirname, 'migrations') },
  engine: 'js',
  experimental: { adapter: true },
  adapter: async () => new PrismaBetterSQLite3({ url }),
});
