// The guest SDK from the CLI's side: where it is, how a user's C program is compiled against it (the flags
// the SDK's Makefile wrote to build/lib/sdk-flags.txt), and the starter program `sf guest new` writes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SfError } from '../common/errors.ts';

/** What `make -C native/guest` leaves for user builds, relative to the SDK directory. */
export const SDK_FLAGS_FILE = 'build/lib/sdk-flags.txt';

/**
 * The SDK directory: $SNOWFLOCK_GUEST_SDK when set (an SDK installed elsewhere), else `guest/` of the
 * @snowflock/native package this CLI depends on, found the way Node finds the package (not by a path
 * relative to this file, which moves when the CLI is bundled or installed).
 */
export function guestSdkDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SNOWFLOCK_GUEST_SDK) return path.resolve(env.SNOWFLOCK_GUEST_SDK);
  const abi = fileURLToPath(import.meta.resolve('@snowflock/native/guest-abi'));
  return path.join(path.dirname(abi), '..', 'guest');
}

export interface SdkFlags {
  cflags: string[];
  ldflags: string[];
  /** Objects before the program's (crt0) and libraries after it, in link order. */
  first: string[];
  last: string[];
}

/** The compiler's own freestanding headers (stddef.h, stdint.h, …), or a clear error when there is no compiler. */
function compilerIncludeDir(cc: string): string {
  const r = spawnSync(cc, ['-print-file-name=include'], { encoding: 'utf8' });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new SfError(
      'BAD_CONFIG',
      missing
        ? `no C compiler '${cc}' on this machine: install one (apt-get install gcc) or name it with --cc`
        : `cannot run the C compiler '${cc}': ${r.error.message}`,
    );
  }
  const dir = r.stdout.trim();
  if (r.status !== 0 || !path.isAbsolute(dir)) {
    throw new SfError('BAD_CONFIG', `'${cc} -print-file-name=include' did not name its include directory: is '${cc}' gcc or clang?`);
  }
  return dir;
}

/** Reads the SDK's flag file: one `kind value` line per argument, {sdk} and {gcc-include} filled in. */
export function readSdkFlags(sdk: string, cc: string): SdkFlags {
  const file = path.join(sdk, SDK_FLAGS_FILE);
  if (!existsSync(file)) {
    throw new SfError(
      'BAD_CONFIG',
      `the guest SDK at ${sdk} is not built (${SDK_FLAGS_FILE} is missing): run npm run build, or make -C ${sdk}` +
        ' (or point SNOWFLOCK_GUEST_SDK at a built SDK)',
    );
  }
  const include = compilerIncludeDir(cc);
  const flags: SdkFlags = { cflags: [], ldflags: [], first: [], last: [] };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const kind = line.slice(0, space);
    const value = line
      .slice(space + 1)
      .replaceAll('{sdk}', sdk)
      .replaceAll('{gcc-include}', include);
    if (kind === 'cflag') flags.cflags.push(value);
    else if (kind === 'ldflag') flags.ldflags.push(value);
    else if (kind === 'first' || kind === 'last') {
      if (!existsSync(value))
        throw new SfError('BAD_CONFIG', `the guest SDK at ${sdk} is incomplete (${value} is missing): run make -C ${sdk}`);
      flags[kind].push(value);
    }
  }
  return flags;
}

const INPUT = /\.(c|S|o|a)$/;

export interface GuestBuild {
  output: string;
  sources: string[];
  bytes: number;
  command: string[];
}

/**
 * Compiles and links `sources` (C files, and .S/.o/.a) into a flat-guest ELF at `output`: one compiler run,
 * its diagnostics going straight to this process's stderr. A compile error is BAD_INPUT after them.
 */
export async function buildGuest(options: { sources: string[]; output: string; cc: string; sdk: string }): Promise<GuestBuild> {
  const { sources, output, cc, sdk } = options;
  if (sources.length === 0) throw new SfError('BAD_INPUT', 'no source files: sf guest build prog.c [more.c …] -o prog.elf');
  for (const s of sources) {
    if (!INPUT.test(s)) throw new SfError('BAD_INPUT', `${s}: not a C (.c), assembler (.S), object (.o) or archive (.a) file`);
    if (!existsSync(s)) throw new SfError('BAD_INPUT', `${s} does not exist`);
  }
  const flags = readSdkFlags(sdk, cc);
  const args = [...flags.cflags, ...flags.ldflags, '-o', output, ...flags.first, ...sources, ...flags.last];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) {
    throw new SfError('BAD_INPUT', `${cc} failed (exit ${code}) building ${output}: see its messages above`);
  }
  return { output, sources, bytes: statSync(output).size, command: [cc, ...args] };
}

/** The program `sf guest new NAME` starts a user with: the 0.2c C API's fork and join, nothing more. */
export function starterProgram(name: string): string {
  return `/* ${name} — a Snowflock flat guest. Build: sf guest build ${name}.c -o ${name}.elf   Run: sfseed ${name}.cfg
 * The C API is SnowFlock's (sf.h): ask for clones, fork with CLONE_MASTER, each clone does its part and
 * IC_EXITs, the master IC_JOINs. */
#include <stdio.h>
#include <string.h>
#include "sf.h"

int main(void) {
  char ticket[SF_TICKET_SIZE + 1];
  struct sf_result *res = REQUEST_CLONE_TICKET(2, 0, 0, 0); /* up to 2 clones, whatever fits now */
  if (res == NULL) {
    printf("${name}: no ticket\\n");
    return 1;
  }
  int granted = res->rc.allowed_clones;
  strcpy(ticket, res->ticket);
  FREE_SF_RES(res);
  if (granted == 0) {
    printf("${name}: no room for clones now, working alone\\n");
    return 0;
  }

  res = CLONE_MASTER(ticket);
  if (res == NULL) {
    printf("${name}: CLONE_MASTER failed\\n");
    DISPOSE_TICKET(ticket);
    return 1;
  }
  int vmid = res->vmid;
  FREE_SF_RES(res);
  if (vmid != 0) {
    printf("${name}: clone %d of %d at work\\n", vmid, granted);
    IC_EXIT();
    return 1; /* IC_EXIT does not return unless it failed */
  }
  printf("${name}: master waiting for %d clones\\n", granted);
  IC_JOIN(ticket);
  printf("${name}: all %d clones done\\n", granted);
  return 0;
}
`;
}

export function starterConfig(name: string): string {
  return `# sfseed config for ${name}: sfseed ${name}.cfg (kernel is relative to this file)
name = '${name}'
kernel = '${name}.elf'
vcpus = 1
memory = 64      # MiB
args = ''
`;
}
