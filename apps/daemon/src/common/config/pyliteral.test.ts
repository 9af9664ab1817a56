// The Python-literal reader: every literal form, Python's integer arithmetic, and hostile files that must
// fail with BAD_CONFIG naming file, line and key, without running anything or exhausting memory or stack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SfError } from '../errors.ts';
import { lineOfChild, parsePyLiteralFile, type PyDict, type PyValue } from './pyliteral.ts';

const FILE = 'test.cfg';

function values(text: string): Record<string, PyValue> {
  return Object.fromEntries([...parsePyLiteralFile(text, FILE)].map(([k, v]) => [k, v.value]));
}

function value(expr: string): PyValue {
  return values(`x = ${expr}\n`).x!;
}

/** Asserts a BAD_CONFIG whose message names the file, the line and (when there is one) the key. */
function bad(text: string, line: number | null, key: string | null, ...fragments: (string | RegExp)[]): string {
  let message = '';
  assert.throws(
    () => parsePyLiteralFile(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof SfError, `expected an SfError, got ${String(err)}`);
      assert.equal(err.code, 'BAD_CONFIG');
      message = err.message;
      assert.ok(message.startsWith(line === null ? `${FILE}: ` : `${FILE}:${line}:`), `file and line ${line} in: ${message}`);
      // The key path follows the position: `test.cfg:2:5: hosts[1].cpus: ...`.
      const path = /^[^:]+(?::\d+){0,2}: (\S+?): /.exec(message)?.[1] ?? '';
      if (key !== null) assert.ok(path === key || path.startsWith(`${key}[`) || path.startsWith(`${key}.`), `key '${key}' in: ${message}`);
      for (const f of fragments) {
        if (typeof f === 'string') assert.ok(message.includes(f), `'${f}' in: ${message}`);
        else assert.match(message, f);
      }
      return true;
    },
  );
  return message;
}

test('integers: decimal, hex, octal, binary, separators, signs', () => {
  assert.deepEqual(
    values('a = 0\nb = 42\nc = 0xF10C\nd = 0XC01F\ne = 0o755\nf = 0b1010\ng = 1_000_000\nh = 0x_ff\ni = -5\nj = +7\nk = 000\n'),
    { a: 0, b: 42, c: 0xf10c, d: 0xc01f, e: 0o755, f: 10, g: 1_000_000, h: 255, i: -5, j: 7, k: 0 },
  );
});

test('strings: both quotes, triple quotes, escapes, raw and u prefixes, concatenation', () => {
  assert.equal(value(`'single'`), 'single');
  assert.equal(value(`"double"`), 'double');
  assert.equal(value(`"it's"`), "it's");
  assert.equal(value(`'say "hi"'`), 'say "hi"');
  assert.equal(value(`'''one\ntwo "quoted" 'too' '''`), `one\ntwo "quoted" 'too' `);
  assert.equal(value(`"""a\n  b"""`), 'a\n  b');
  assert.equal(value(String.raw`'a\nb\tc\\d\'e\"f\x41\u00e9\101\0'`), 'a\nb\tc\\d\'e"fAéA\0');
  assert.equal(value(String.raw`'\U0001F600'`), '😀');
  assert.equal(value(String.raw`'keep \d unknown'`), String.raw`keep \d unknown`);
  assert.equal(value(String.raw`r'C:\path\n'`), String.raw`C:\path\n`);
  assert.equal(value(`u'unicode'`), 'unicode');
  assert.equal(value(`'con' "cat"  'enated'`), 'concatenated');
  assert.equal(value(`('multi '\n     'line')`), 'multi line');
  assert.equal(value(`'a' + 'b' + "c"`), 'abc');
  assert.equal(value(`'line \\\ncontinued'`), 'line continued');
  assert.equal(value(`''`), '');
  assert.equal(value(`'ünïcødé ✓'`), 'ünïcødé ✓');
});

test('True, False, None', () => {
  assert.deepEqual(values('a = True\nb = False\nc = None\n'), { a: true, b: false, c: null });
});

test('lists, tuples and dicts, nested, with trailing commas, across lines', () => {
  assert.deepEqual(value('[]'), []);
  assert.deepEqual(value('[1, 2, 3,]'), [1, 2, 3]);
  assert.deepEqual(value('[[1], [2, [3]]]'), [[1], [2, [3]]]);
  assert.deepEqual(value('()'), []);
  assert.deepEqual(value('(1,)'), [1]);
  assert.deepEqual(value('(1, "two", None)'), [1, 'two', null]);
  assert.equal(value('(5)'), 5);
  assert.deepEqual(value('1, 2'), [1, 2]);
  assert.deepEqual(value('1,'), [1]);
  assert.deepEqual(value('{}'), Object.create(null));
  const d = value(`{\n  'a': 1,\n  "b": [True, None],\n  'c': {'d': 'e'},\n}`) as PyDict;
  assert.deepEqual({ ...d, c: { ...(d.c as PyDict) } }, { a: 1, b: [true, null], c: { d: 'e' } });
  assert.equal(Object.getPrototypeOf(d), null);
});

test('dict keys like __proto__ and constructor are plain keys', () => {
  const d = value(`{'__proto__': {'polluted': True}, 'constructor': 1, 'toString': 2}`) as PyDict;
  assert.equal(Object.getPrototypeOf(d), null);
  assert.deepEqual(Object.keys(d), ['__proto__', 'constructor', 'toString']);
  assert.equal(d.constructor, 1);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('comments, blank lines, CRLF, BOM, semicolons and backslash continuations; lines are recorded', () => {
  const text =
    '\uFEFF# a header comment\r\n\r\nport = 0xF10C  # the master port\r\n' +
    "hosts = [  # opened here\r\n  'a',\r\n\r\n  # between items\r\n  'b',\r\n]\r\n" +
    'x = 1; y = 2\r\nz = 1 + \\\r\n    2\r\n# the end, no newline';
  const map = parsePyLiteralFile(text, FILE);
  assert.deepEqual([...map.keys()], ['port', 'hosts', 'x', 'y', 'z']);
  assert.deepEqual(map.get('port'), { value: 0xf10c, line: 3 });
  assert.equal(map.get('hosts')!.line, 4);
  assert.deepEqual(map.get('z'), { value: 3, line: 11 });
  assert.equal(map.get('y')!.line, 10);
  const hosts = map.get('hosts')!.value as PyValue[];
  assert.equal(lineOfChild(hosts, 0), 5);
  assert.equal(lineOfChild(hosts, 1), 8);
});

test('an empty file or one with only comments has no settings', () => {
  assert.equal(parsePyLiteralFile('', FILE).size, 0);
  assert.equal(parsePyLiteralFile('# nothing\n\n   \n# here', FILE).size, 0);
});

test('arithmetic follows Python precedence', () => {
  assert.equal(value('1 + 2 * 3'), 7);
  assert.equal(value('(1 + 2) * 3'), 9);
  assert.equal(value('10 - 2 - 3'), 5);
  assert.equal(value('2 * 3 % 4'), 2);
  assert.equal(value('1 << 2 + 1'), 8); // shifts bind looser than +
  assert.equal(value('-2 * -3'), 6);
  assert.equal(value('- -1'), 1);
  assert.equal(value('-(3 + 4)'), -7);
  assert.equal(value('4*1024*1024*1024'), 4 * 1024 ** 3);
  assert.equal(value('8 << 30'), 8 * 2 ** 30);
  assert.equal(value('0x100 >> 4'), 16);
  assert.equal(value('-9 >> 1'), -5);
  assert.equal(value('12 / 4'), 3);
  assert.equal(value('(1 << 64) >> 20'), 2 ** 44); // intermediates may exceed 2**53
  assert.equal(value('(1 << 53) - 1'), Number.MAX_SAFE_INTEGER);
  assert.equal(value('-(1 << 53) + 1'), Number.MIN_SAFE_INTEGER);
});

test('// and % floor like Python: the remainder takes the sign of the divisor', () => {
  const cases: [string, number][] = [
    ['7 // 2', 3],
    ['7 % 2', 1],
    ['-7 // 2', -4],
    ['-7 % 2', 1],
    ['7 // -2', -4],
    ['7 % -2', -1],
    ['-7 // -2', 3],
    ['-7 % -2', -1],
    ['6 // -3', -2],
    ['-6 % 3', 0],
    ['-1 // 1024', -1],
    ['-1 % 1024', 1023],
  ];
  for (const [expr, expected] of cases) assert.equal(value(expr), expected, expr);
});

test('arithmetic errors', () => {
  bad('\nsize = 7 / 2\n', 2, 'size', 'use //');
  bad('\nsize = 7 // 0\n', 2, 'size', 'division by zero');
  bad('\nsize = 7 % 0\n', 2, 'size', 'division by zero');
  bad('\nsize = 7 / 0\n', 2, 'size', 'division by zero');
  bad("\nname = 'a' + 1\n", 2, 'name', "cannot apply '+' to a string and an integer");
  bad("\nname = 'a' * 3\n", 2, 'name', "cannot apply '*'");
  bad('\nflag = True + 1\n', 2, 'flag', "cannot apply '+' to True");
  bad("\nname = -'a'\n", 2, 'name', "unary '-' needs an integer");
  bad('\nlst = [1] + [2]\n', 2, 'lst', "cannot apply '+' to a list and a list");
  bad('\nbits = 1 << -1\n', 2, 'bits', 'negative shift count');
  bad('\nbits = ~1\n', 2, 'bits', "'~'");
  bad('\nbits = 1 | 2\n', 2, 'bits', "'|' operator is not supported");
  bad('\nbig = 1 << 53\n', 2, 'big', 'number too large');
  bad('\nbig = [1, (1 << 60) * 100]\n', 2, 'big[1]', 'number too large');
  bad('\nbig = (1 << 64) * (1 << 64)\n', 2, 'big', 'number too large', '2**64');
  bad('\nbig = 99999999999999999999999\n', 2, 'big', 'number too large');
  bad(`\nbig = ${'9'.repeat(10_000)}\n`, 2, 'big', 'number too large');
  bad('\nf = 1.5\n', 2, 'f', 'floating-point');
  bad('\nf = 1e3\n', 2, 'f', 'floating-point');
  bad('\nf = .5\n', 2, 'f', 'floating-point');
  bad('\nf = 0755\n', 2, 'f', 'leading zeros', '0o755');
  bad('\nf = 0b102\n', 2, 'f', "'0b102' is not a valid integer");
  bad('\nf = 1__0\n', 2, 'f', 'not a valid integer');
});

test('hostile: calls, imports, lambdas, comprehensions, names, attributes are never run', () => {
  bad("a = 1\ncmd = __import__('os').system('x')\n", 2, 'cmd', 'function calls like __import__(...) are not allowed');
  bad("a = 1\nsecret = open('/etc/passwd')\n", 2, 'secret', 'function calls like open(...)');
  bad('a = 1\nf = lambda: 1\n', 2, 'f', 'lambda expressions are not allowed');
  bad('a = 1\nl = [x for x in y]\n', 2, 'l', "'x' is a name");
  bad('a = 1\nl = [1 for x in y]\n', 2, 'l', 'comprehensions are not allowed');
  bad("a = 1\nd = {'k': 1 for k in y}\n", 2, 'd', 'comprehensions are not allowed');
  bad('a = 1\ng = (1 for x in y)\n', 2, 'g', 'comprehensions are not allowed');
  bad('a = 1\nb = a\n', 2, 'b', "'a' is a name, not a value", 'other settings cannot be referenced');
  bad('a = 1\nb = true\n', 2, 'b', 'did you mean True?');
  bad("a = 1\nb = 'abc'.upper()\n", 2, 'b', 'attribute access is not allowed');
  bad('a = 1\nb = (1).real\n', 2, 'b', 'attribute access is not allowed');
  bad('a = 1\nb = [1, 2][0]\n', 2, 'b', 'indexing and slicing are not allowed');
  bad("a = 1\nb = 'x'('y')\n", 2, 'b', 'calls are not allowed');
  bad('a = 1\nimport os\n', 2, null, 'import statements are not allowed');
  bad('a = 1\nfrom os import path\n', 2, null, 'import statements are not allowed');
  bad('a = 1\nb = import os\n', 2, 'b', 'import is not allowed');
  bad('a = 1\ndef f(): pass\n', 2, null, "'def' statements are not allowed");
  bad("a = 1\nexec('print(1)')\n", 2, null, 'function calls are not allowed');
  bad('a = 1\nos.system = 1\n', 2, null, 'only plain names can be set');
  bad('a = 1\nb = 1 if True else 2\n', 2, 'b', 'conditional expressions are not allowed');
  bad('a = 1\nb = 1 < 2\n', 2, 'b', 'comparisons are not supported');
  bad('a = 1\nb = not True\n', 2, 'b', "'not' is not supported");
  bad('a = 1\nb = True and False\n', 2, 'b', "'and' is not supported");
  bad("a = 1\nb = f'{a}'\n", 2, 'b', 'f-strings are not supported');
  bad("a = 1\nb = b'bytes'\n", 2, 'b', 'byte strings');
  bad('a = 1\nb = [*a]\n', 2, 'b', 'unpacking is not allowed');
  bad('a = 1\nb = {**a}\n', 2, 'b', 'unpacking is not allowed');
  bad('a = 1\nb = {1, 2}\n', 2, 'b', 'sets are not supported');
  bad('a = 1\nb = {1: 2}\n', 2, 'b', 'dict keys must be strings');
  bad('a = 1\nb = 10**1000\n', 2, 'b', "there is no '**' operator");
  bad('a = 1\nb = 1 << 100000\n', 2, 'b', 'shift count 100000 is more than 64');
  bad('a = 1\nb = (x := 1)\n', 2, 'b', "'x' is a name");
  bad('a = 1\nb = $\n', 2, 'b', 'unexpected character "$"');
  bad('a = 1\nb = 1\u00a0+ 1\n', 2, 'b', 'U+00A0');
});

test('hostile: 10 000-deep nesting fails cleanly instead of overflowing the stack', () => {
  for (const open of ['[', '(', '{', '-', "{'k': "]) {
    bad(`a = 1\ndeep = ${open.repeat(10_000)}1\n`, 2, 'deep', 'nested more than 32 levels deep');
  }
  // 32 levels are fine.
  assert.equal(JSON.stringify(value('['.repeat(32) + ']'.repeat(32))), '['.repeat(32) + ']'.repeat(32));
  bad(`a = 1\ndeep = ${'['.repeat(33)}${']'.repeat(33)}\n`, 2, 'deep', 'nested more than 32 levels deep');
  // Long flat expressions are loops, not recursion.
  assert.equal(value(Array(100_000).fill('1').join('+')), 100_000);
});

test('hostile: oversized files and strings', () => {
  const huge = `a = '${'x'.repeat(2 * 1024 * 1024)}'\n`;
  const message = bad(huge, null, null, 'at most 1 MiB');
  assert.ok(message.length < 200, 'the message does not echo the file');
  bad(`a = 1\nbig = '${'x'.repeat(64 * 1024 + 1)}'\n`, 2, 'big', 'string longer than 64 KiB');
  bad(`a = 1\nbig = '${'x'.repeat(40 * 1024)}' + '${'y'.repeat(40 * 1024)}'\n`, 2, 'big', 'string longer than 64 KiB');
  bad(`a = 1\nbig = '${'x'.repeat(40 * 1024)}' '${'y'.repeat(40 * 1024)}'\n`, 2, 'big', 'string longer than 64 KiB');
  assert.equal((value(`'${'x'.repeat(64 * 1024)}'`) as string).length, 64 * 1024);
  // Multi-byte characters count as the bytes they take.
  bad(`a = '${'é'.repeat(600 * 1024)}'`, null, null, 'at most 1 MiB');
});

test('hostile: unterminated strings and brackets', () => {
  bad("a = 1\nname = 'abc\nb = 2\n", 2, 'name', 'unterminated string');
  bad('a = 1\nname = "abc', 2, 'name', 'unterminated string');
  bad("a = 1\nname = '''abc\n\nb = 2\n", 2, 'name', 'unterminated triple-quoted string');
  bad("a = 1\nname = r'abc\\'\n", 2, 'name', 'unterminated string');
  bad('a = 1\nhosts = [\n  1,\n  2,\n', 2, 'hosts', "'[' is never closed");
  bad("a = 1\nhosts = {'a': 1,\n 'b': 2\n", 2, 'hosts', "'{' is never closed");
  bad('a = 1\nhosts = (1,\n', 2, 'hosts', "'(' is never closed");
  bad('a = 1\nhosts = [1, 2)\n', 2, 'hosts', "expected ',' or ']' in the list opened on line 2");
  bad('a = 1\nhosts = 1]\n', 2, 'hosts', 'expected the end of the line');
  bad('a = 1\nhosts = [1 2]\n', 2, 'hosts', "expected ',' or ']'");
  bad('a = 1\nb =\n', 2, 'b', 'expected a value, got the end of the line');
  bad('a = 1\nb = 1 +\n', 2, 'b', 'expected a value');
  bad("a = 1\nb = '\\x4'\n", 2, 'b', 'needs exactly 2 hex digits');
  bad("a = 1\nb = '\\N{BULLET}'\n", 2, 'b', '\\N{...}');
});

test('hostile: NUL bytes', () => {
  bad("a = 1\nb = 'x\0y'\n", 2, 'b', 'NUL byte');
  bad('a = 1\nb = 1\0\n', 2, 'b', 'NUL byte');
  bad('a = 1\n# comment \0\n', 2, null, 'NUL byte');
  // Written as an escape it is a character like any other; the typed loaders refuse it in paths.
  assert.equal(value(String.raw`'a\x00b'`), 'a\0b');
});

test('statement shape errors: duplicates, chains, augmented, annotations, indentation', () => {
  bad('a = 1\nb = 2\na = 3\n', 3, 'a', "'a' is already set on line 1");
  bad("a = 1\nd = {'k': 1,\n     'k': 2}\n", 3, 'd', "duplicate key 'k' in the dict opened on line 2");
  bad('a = 1\nb = c = 2\n', 2, 'b', "'c' is a name");
  bad('a = 1\nb = 2 = 3\n', 2, 'b', 'chained assignments');
  bad('a = 1\nb += 2\n', 2, null, "'+=' is not allowed after 'b'");
  bad('a = 1\nb: int = 2\n', 2, null, 'type annotations are not allowed');
  bad('a = 1\n  b = 2\n', 2, null, 'unexpected indentation');
  bad('a = 1\nb 2\n', 2, null, "expected '=' after 'b'");
  bad('a = 1\n42 = b\n', 2, null, 'expected a setting name');
  bad('a = 1\nTrue = 0\n', 2, null, 'cannot assign to True');
  bad('a = 1\nb = 1 2\n', 2, 'b', 'expected the end of the line');
  bad('a = 1\nb = 1 \\ 2\n', 2, 'b', 'backslash');
});

test('errors inside containers name the path of the value', () => {
  const message = bad(
    "cluster_hosts = [\n  {'host': 'a', 'cpus': 4},\n  {'host': 'b', 'cpus': cpu_count},\n]\n",
    3,
    'cluster_hosts[1].cpus',
  );
  assert.match(message, /^test\.cfg:3:\d+: cluster_hosts\[1\]\.cpus: 'cpu_count' is a name/);
});
