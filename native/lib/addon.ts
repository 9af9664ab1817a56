// Loads build/Release/snowflock.node once, on first use, and says clearly what to do when it is missing.
// Boundary: locating and loading the binary only; each export's types and checks live in their own file.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What the compiled addon exports. Values are `unknown` until a typed wrapper has checked them. */
export interface NativeAddon {
  hostCapabilities(): unknown;
}

/** Thrown when the addon binary has not been built yet (native/ is built by the root `npm run build`). */
export class AddonNotBuiltError extends Error {
  constructor(readonly addonPath: string) {
    super(
      `The Snowflock native addon is not built (${addonPath} is missing). ` +
        'Run `npm run build` at the repository root (or `npm run build -w native`).',
    );
    this.name = 'AddonNotBuiltError';
  }
}

const addonUrl = new URL('../build/Release/snowflock.node', import.meta.url);
let cached: NativeAddon | undefined;

// Lazy so that importing native/ for its types (or on a machine without a build) costs nothing and
// throws only when native code is actually needed.
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const addonPath = fileURLToPath(addonUrl);
  if (!existsSync(addonPath)) throw new AddonNotBuiltError(addonPath);
  const require = createRequire(import.meta.url);
  let loaded: unknown;
  try {
    loaded = require(addonPath);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`Failed to load the Snowflock native addon ${addonPath}: ${reason}. Try \`npm run build\`.`, {
      cause,
    });
  }
  if (typeof loaded !== 'object' || loaded === null || typeof (loaded as NativeAddon).hostCapabilities !== 'function') {
    throw new Error(`${addonPath} does not look like the Snowflock addon (no hostCapabilities export); rebuild it.`);
  }
  cached = loaded as NativeAddon;
  return cached;
}
