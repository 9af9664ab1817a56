// Next.js settings for SFDashBoard. The monorepo root is pinned for Turbopack and file tracing so Next
// does not guess it from lockfiles (and warn); `next start` serves the standard .next output.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const monorepoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** @type {import('next').NextConfig} */
const nextConfig = {
  typedRoutes: false,
  turbopack: { root: monorepoRoot },
  // Must equal turbopack.root, or Next warns and picks one.
  outputFileTracingRoot: monorepoRoot,
  poweredByHeader: false,
  // The daemon's shared modules (errors, events, the tRPC client, domain names) ship as TypeScript source,
  // as does the one dependency-free file of native/ they use (message.ts); nothing else of native/ is imported.
  transpilePackages: ['@snowflock/daemon', '@snowflock/native'],
  // The live feed's upstream client (and its ws transport) run as plain Node modules, not bundled.
  serverExternalPackages: ['socket.io-client'],
};

export default nextConfig;
