// Test helper: skips a test, printing why, when this machine cannot run what it needs: /dev/kvm, the built guest
// images it boots, and (for lazy clones) a userfaultfd that handles kernel faults. Not exported from index.ts.
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { hostCapabilities } from './capabilities.ts';

export interface KvmNeeds {
  /** Guest ELF images the test boots. */
  images: string[];
  /** Lazy clones: the memtap needs userfaultfd to catch the kernel's own faults. */
  kernelFaults?: boolean;
}

/** Why the test cannot run here, or null. */
export function cannotRunKvm(needs: KvmNeeds): string | null {
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
  } catch (error) {
    return `/dev/kvm cannot be opened (${(error as Error).message})`;
  }
  const missing = needs.images.find((image) => !existsSync(image));
  if (missing) return `${missing} is missing: build the guest SDK (make -C native/guest)`;
  if (needs.kernelFaults) {
    const uffd = hostCapabilities().userfaultfd;
    if (!uffd.kernelFaults) return `lazy clones need a userfaultfd for kernel faults (${uffd.error ?? 'not offered'})`;
  }
  return null;
}

/** Skips `t` with the reason printed when it cannot run here; true if it was skipped. */
export function skipUnlessKvm(t: TestContext, needs: KvmNeeds): boolean {
  const why = cannotRunKvm(needs);
  if (why) {
    console.log(`# skipped: ${why}`);
    t.skip(why);
  }
  return why !== null;
}
