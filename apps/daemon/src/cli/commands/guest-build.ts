// `sf guest build` (a user's C program → a flat-guest ELF, compiled against the SDK as the examples are)
// and `sf guest new` (a starter program and its seed config). Nothing here talks to the daemons.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SfError } from '../../common/errors.ts';
import type { Command } from '../command.ts';
import { buildGuest, guestSdkDir, starterConfig, starterProgram } from '../guest-sdk.ts';

const NAME = /^[A-Za-z][\w-]{0,63}$/;

/** Writes DIR/NAME.c and DIR/NAME.cfg for `where` = [DIR/]NAME (DIR defaults to ./NAME). */
function newGuest(where: string | undefined) {
  const name = where ? path.basename(where) : '';
  if (!NAME.test(name)) {
    throw new SfError('BAD_INPUT', `sf guest new NAME: NAME must be a letter then letters, digits, _ or - (got '${name}')`);
  }
  const dir = path.resolve(where!);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new SfError('BAD_INPUT', `${dir} exists and is not empty: choose another NAME or remove it`);
  }
  mkdirSync(dir, { recursive: true });
  const program = path.join(dir, `${name}.c`);
  const config = path.join(dir, `${name}.cfg`);
  writeFileSync(program, starterProgram(name));
  writeFileSync(config, starterConfig(name));
  return { dir, program, config, elf: path.join(dir, `${name}.elf`) };
}

export const guest: Command = {
  name: 'guest',
  args: [['build', 'new'], 'file'],
  summary: 'Build your own C program into a flat guest (sf guest build), or start one (sf guest new).',
  usage: 'sf guest build PROG.c [MORE.c …] -o PROG.elf [--cc CC]  |  sf guest new NAME',
  description: [
    'build: compiles and links C files (and .S/.o/.a) against the guest SDK with the flags of its examples.',
    '  The SDK answers to <stdio.h>, <stdlib.h>, <string.h>, <ctype.h> and "sf.h" (the SnowFlock 0.2c C API),',
    '  so a program written for that API builds unchanged. The SDK is the one of this installation',
    '  (native/guest, built by npm run build); SNOWFLOCK_GUEST_SDK names another. Compiler messages are',
    '  passed through; a failed compile exits 2.',
    'new: writes NAME/NAME.c (fork, work, join with the C API) and NAME/NAME.cfg (kernel = NAME.elf);',
    '  NAME may be a path (guests/demo writes guests/demo/demo.c).',
  ].join('\n'),
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'build: the ELF to write (default: the first source with .elf)' },
    cc: { type: 'string', value: 'CC', description: 'build: the C compiler (default gcc)' },
  },
  examples: [
    'sf guest new hello2 && cd hello2',
    'sf guest build hello2.c -o hello2.elf',
    'sfseed hello2.cfg && sf console 1:0 --once',
    'sf guest build main.c work.c -o prog.elf --json',
  ],
  async run(ctx, args, values) {
    const [sub, ...rest] = args;
    if (sub === 'build') {
      const output = typeof values.output === 'string' ? values.output : rest[0]?.replace(/\.[^./]+$/, '.elf');
      if (!output) throw new SfError('BAD_INPUT', 'no source files: sf guest build prog.c [more.c …] -o prog.elf');
      const cc = typeof values.cc === 'string' ? values.cc : 'gcc';
      const built = await buildGuest({ sources: rest, output, cc, sdk: guestSdkDir() });
      ctx.out.result(built, () => `built ${built.output} (${built.bytes} bytes) from ${built.sources.join(' ')}`);
      return;
    }
    if (sub === 'new') {
      const made = newGuest(rest[0]);
      const rel = (p: string) => path.relative(process.cwd(), p);
      ctx.out.result(made, () =>
        [
          `wrote ${rel(made.program)} and ${rel(made.config)}`,
          `build: sf guest build ${rel(made.program)} -o ${rel(made.elf)}`,
          `run:   sfseed ${rel(made.config)}`,
        ].join('\n'),
      );
      return;
    }
    throw new SfError('BAD_INPUT', `sf guest ${sub ?? ''}: say build or new (see sf guest --help)`);
  },
};
