// The router's type, for tRPC clients (the CLI, sfld, the dashboard): types only, no server code.
export type { AppRouter } from './router.ts';
