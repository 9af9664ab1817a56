import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { findImportCycles, moduleImports, quotedIncludes } from './import-cycles.mjs';

const dirs = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A throwaway repository root holding `files` ({ 'apps/x/a.ts': 'source' }). */
function fixture(files) {
  const root = mkdtempSync(path.join(tmpdir(), 'import-cycles-'));
  dirs.push(root);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

const paths = (result) => result.cycles.map((c) => c.path.join(' → '));

test('a value cycle through three modules is reported once, starting at its smallest member', () => {
  const root = fixture({
    'apps/x/src/a.ts': "import { b } from './b.ts';\nexport const a = 1;\n",
    'apps/x/src/b.ts': "export { c as b } from './c';\n",
    'apps/x/src/c.ts': "import * as a from './a.ts';\nexport const c = a;\n",
  });
  const result = findImportCycles(root);
  assert.deepEqual(paths(result), ['apps/x/src/a.ts → apps/x/src/b.ts → apps/x/src/c.ts → apps/x/src/a.ts']);
  assert.equal(result.cycles[0].typeOnly, false);
});

test('a cycle made only of type imports is reported and marked as such', () => {
  const root = fixture({
    'native/lib/types.ts': "import type { Vm } from './vm.ts';\nexport type Id = Vm['id'];\n",
    'native/lib/vm.ts': "import type { Id } from './types.ts';\nexport interface Vm { id: Id }\n",
  });
  const result = findImportCycles(root);
  assert.deepEqual(paths(result), ['native/lib/types.ts → native/lib/vm.ts → native/lib/types.ts']);
  assert.equal(result.cycles[0].typeOnly, true);
});

test('a dynamic import with a literal and an index file close a cycle too', () => {
  const root = fixture({
    'apps/x/lib/index.ts': "export const load = () => import('../main.tsx');\n",
    'apps/x/main.tsx': "import { load } from './lib';\nexport default load;\n",
  });
  assert.deepEqual(paths(findImportCycles(root)), ['apps/x/lib/index.ts → apps/x/main.tsx → apps/x/lib/index.ts']);
});

test('a clean DAG, commented-out imports and skipped folders give no cycles', () => {
  const root = fixture({
    'apps/x/a.ts': "import { b } from './b.ts';\nimport { c } from './c.ts';\n",
    'apps/x/b.ts': "import { c } from './c.ts';\n// import { a } from './a.ts';\n",
    'apps/x/c.ts': "/* import { a } from './a.ts'; */\nimport fs from 'node:fs';\nexport const c = fs;\n",
    'apps/x/node_modules/p/index.ts': "import '../../a.ts';\n",
    'apps/x/.next/server/page.mjs': "import '../../a.ts';\n",
  });
  const result = findImportCycles(root);
  assert.deepEqual(result.cycles, []);
  assert.equal(result.files, 3);
  assert.equal(result.edges, 3);
});

test('a C++ include cycle in native/src is reported, resolved relative to the including file', () => {
  const root = fixture({
    'native/src/core/vmm/vm.h': '#pragma once\n#include "../memory/memtap.h"\n#include <vector>\n',
    'native/src/core/memory/memtap.h': '#pragma once\n#include "../vmm/vm.h"\n',
    'native/src/core/vmm/vm.cc': '#include "vm.h"\n',
  });
  assert.deepEqual(paths(findImportCycles(root)), [
    'native/src/core/memory/memtap.h → native/src/core/vmm/vm.h → native/src/core/memory/memtap.h',
  ]);
});

test('workspace package imports resolve through the package exports', () => {
  const root = fixture({
    'package.json': JSON.stringify({ workspaces: ['native', 'apps/*'] }),
    'native/package.json': JSON.stringify({ name: '@x/native', exports: { '.': './lib/index.ts' } }),
    'apps/d/package.json': JSON.stringify({ name: '@x/d', exports: { './errors': './src/errors.ts' } }),
    'native/lib/index.ts': "export { E } from '@x/d/errors';\n",
    'apps/d/src/errors.ts': "import { v } from '@x/native';\nexport const E = v;\n",
  });
  assert.deepEqual(paths(findImportCycles(root)), ['apps/d/src/errors.ts → native/lib/index.ts → apps/d/src/errors.ts']);
});

test('the import patterns: type, inline type, re-exports, side effects, dynamic', () => {
  const specs = moduleImports(
    [
      "import a, { b, type C } from './one.ts';",
      "import type {\n  D,\n  E,\n} from './two.ts';",
      "export * from './three.ts';",
      "export type { F } from './four.ts';",
      "import './five.css';",
      "const m = await import('./six.ts');",
      'const s = \'import x from "./not-a-comment-but-ok.ts"\';',
    ].join('\n'),
  );
  const byName = Object.fromEntries(specs.map((s) => [s.spec, s.typeOnly]));
  assert.equal(byName['./one.ts'], false);
  assert.equal(byName['./two.ts'], true);
  assert.equal(byName['./three.ts'], false);
  assert.equal(byName['./four.ts'], true);
  assert.equal(byName['./five.css'], false);
  assert.equal(byName['./six.ts'], false);
  assert.deepEqual(quotedIncludes('#include "a.h"\n// #include "b.h"\n  #  include "c.h"\n#include <d.h>\n'), ['a.h', 'c.h']);
});

test('the command exits 1 and prints the cycle, or 0 with a summary', () => {
  const script = path.join(import.meta.dirname, 'import-cycles.mjs');
  const cyclic = fixture({ 'apps/a.ts': "import './b.ts';\n", 'apps/b.ts': "import './a.ts';\n" });
  const bad = spawnSync(process.execPath, [script, cyclic], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /apps\/a\.ts → apps\/b\.ts → apps\/a\.ts/);
  const clean = fixture({ 'apps/a.ts': "import './b.ts';\n", 'apps/b.ts': 'export {};\n' });
  const good = spawnSync(process.execPath, [script, clean], { encoding: 'utf8' });
  assert.equal(good.status, 0);
  assert.match(good.stdout, /no cycles among 2 files/);
});

test('the core rooms include only downward; memserver never includes vmm; core code never includes napi.h', () => {
  const root = fixture({
    'native/src/core/base/status.h': '#pragma once\n',
    'native/src/core/memory/memtap.h': '#pragma once\n#include "../base/status.h"\n',
    'native/src/core/vmm/vm.h': '#pragma once\n#include "../memory/memtap.h"\n#include "../base/status.h"\n',
    'native/src/core/memserver/mirror.h': '#pragma once\n#include "../vmm/vm.h"\n#include "../memory/memtap.h"\n',
    'native/src/core/base/thread.h': '#pragma once\n#include "../memory/memtap.h"\n',
    'native/src/core/devices/queue.cc': '#include <napi.h>\n#include "../base/status.h"\n',
    'native/src/core/loose.h': '#pragma once\n',
    'native/src/binding/vm_binding.cc': '#include <napi.h>\n#include "../core/vmm/vm.h"\n',
  });
  const result = findImportCycles(root);
  assert.deepEqual(result.cycles, []);
  assert.deepEqual(result.rooms, [
    'native/src/core/base/thread.h → native/src/core/memory/memtap.h: base may not include memory',
    'native/src/core/devices/queue.cc: core code must not include napi.h (the binding does)',
    'native/src/core/loose.h: not in a room (base, memory, devices, vmm, memserver)',
    'native/src/core/memserver/mirror.h → native/src/core/vmm/vm.h: memserver may not include vmm',
  ]);
  const run = spawnSync(process.execPath, [path.join(import.meta.dirname, 'import-cycles.mjs'), root], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /4 include\(s\) against the core's room order/);
});
