// Public TypeScript face of @snowflock/native: re-exports the typed wrappers around snowflock.node.
// Boundary: exports only; each wrapper (types + argument/shape checks) lives in its own file.
export { AddonNotBuiltError } from './addon.ts';
export { hostCapabilities } from './capabilities.ts';
export type {
  HostCapabilities,
  KvmCapabilities,
  UffdOpenPath,
  UserfaultfdCapabilities,
} from './capabilities.ts';
