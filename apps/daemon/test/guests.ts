// Where the example guests are (built by native's build) and whether this machine can run them:
// tests that boot VMs skip, with the reason printed, when /dev/kvm or the guests are missing.
import { accessSync, constants, existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const GUEST_BIN = fileURLToPath(new URL('../../../native/guest/build/bin/', import.meta.url));

export function guestImage(
  name:
    | 'hello'
    | 'memtouch'
    | 'align'
    | 'render'
    | 'forkbench'
    | 'netecho'
    | 'netfetch'
    | 'disktouch'
    | 'smpcheck'
    | 'mpitest'
    | 'heat'
    | 'pingpong'
    | 'netapi'
    | 'sfsh'
    | 'mpialign',
): string {
  return `${GUEST_BIN}${name}.elf`;
}

/** Why VMs cannot run here, or null when they can. */
export function cannotRunVms(): string | null {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/kvm is missing or not accessible: VM tests need KVM';
  }
  if (!existsSync(guestImage('hello'))) return `example guests are not built (${GUEST_BIN}): run npm run build`;
  return null;
}

export function seedFile(image: string, args = '', memoryMiB = 64, vcpus = 1): string {
  return `kernel = '${image}'\nvcpus = ${vcpus}\nmemory = ${memoryMiB}\nargs = '${args}'\n`;
}

/** Skips `t` when `why` says it cannot run, printing the reason (a skip in the log says why); true if skipped. */
export function skipIf(t: TestContext, why: string | null): boolean {
  if (!why) return false;
  console.log(`# skipped: ${why}`);
  t.skip(why);
  return true;
}
