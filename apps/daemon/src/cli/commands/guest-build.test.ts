// `sf guest build` and `sf guest new` as a user runs them (the real CLI in a child process, the real SDK and gcc):
// a program using the standard header names and sf.h links into a flat-guest ELF, and each way it can fail says
// what to do — compiler messages passed through, a missing compiler, an SDK that is not built.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runSf } from '../../../test/cli-runner.ts';
import { skipIf } from '../../../test/guests.ts';
import { guestSdkDir, SDK_FLAGS_FILE } from '../guest-sdk.ts';

function cannotBuild(): string | null {
  if (spawnSync('gcc', ['--version']).error) return 'gcc is not installed: sf guest build needs a C compiler';
  if (!existsSync(path.join(guestSdkDir(), SDK_FLAGS_FILE))) return 'the guest SDK is not built: run npm run build';
  return null;
}

function workDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sf-guest-build-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a program written with <stdio.h>, <stdlib.h>, <string.h> and "sf.h" builds into a flat-guest ELF', async (t) => {
  if (skipIf(t, cannotBuild())) return;
  const dir = workDir(t);
  writeFileSync(
    path.join(dir, 'main.c'),
    '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include "sf.h"\nint twice(int);\n' +
      'int main(void) {\n  struct sf_result *r = REQUEST_VM_TICKET(1);\n  char t[SF_TICKET_SIZE + 1];\n' +
      '  strcpy(t, r ? r->ticket : "");\n  printf("%d %s\\n", twice(atoi("21")), t);\n  FREE_SF_RES(r);\n  return IC_EXIT();\n}\n',
  );
  writeFileSync(path.join(dir, 'more.c'), 'int twice(int x) { return 2 * x; }\n');
  const elf = path.join(dir, 'prog.elf');
  const r = await runSf(['guest', 'build', path.join(dir, 'main.c'), path.join(dir, 'more.c'), '-o', elf, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const built = JSON.parse(r.stdout) as { output: string; bytes: number };
  assert.equal(built.output, elf);
  const image = readFileSync(elf);
  assert.equal(image.subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.equal(image.readUInt16LE(18), 62, 'x86-64');
  assert.ok(image.readBigUInt64LE(24) >= 0x100000n, 'entry at or above 1 MiB, where flat guests load');
});

test('sf guest build passes compiler errors through and names a missing compiler or an unbuilt SDK', async (t) => {
  if (skipIf(t, cannotBuild())) return;
  const dir = workDir(t);
  const bad = path.join(dir, 'bad.c');
  writeFileSync(bad, 'int main(void) { return undeclared_thing; }\n');
  const failed = await runSf(['guest', 'build', bad, '-o', path.join(dir, 'bad.elf')]);
  assert.equal(failed.code, 2);
  assert.match(failed.stderr, /bad\.c:1:\d+: error: .undeclared_thing. undeclared/);
  assert.match(failed.stderr, /gcc failed \(exit 1\) building .*bad\.elf: see its messages above/);

  const good = path.join(dir, 'good.c');
  writeFileSync(good, 'int main(void) { return 0; }\n');
  const noCc = await runSf(['guest', 'build', good, '--cc', 'no-such-compiler-here']);
  assert.equal(noCc.code, 3);
  assert.match(noCc.stderr, /no C compiler 'no-such-compiler-here' on this machine: install one/);
  const noSdk = await runSf(['guest', 'build', good], { SNOWFLOCK_GUEST_SDK: dir });
  assert.equal(noSdk.code, 3);
  assert.match(noSdk.stderr, /guest SDK at .* is not built .*run npm run build/);
  const missing = await runSf(['guest', 'build', path.join(dir, 'nope.c')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.c does not exist/);
  const unknown = await runSf(['guest', 'compile', good]);
  assert.match(unknown.stderr, /say build or new/);
});
