// The Python API's pytest suite inside `npm test`: pytest runs once, and each of its tests becomes a node test
// here (passed, failed with pytest's message, or skipped with its reason), so node's summary counts them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const here = import.meta.dirname;

/** The first Python that has pytest: the one on PATH, else Debian's (python3-pytest, which .ci/run installs). */
function pythonWithPytest() {
  for (const python of ['python3', '/usr/bin/python3']) {
    const probe = spawnSync(python, ['-c', 'import pytest'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return null;
}

const XML_ENTITIES = { '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'", '&amp;': '&' };
const xmlText = (text) =>
  text.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-f]+));/gi, (m, _n, dec, hex) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(Number.parseInt(hex, 16));
    return XML_ENTITIES[m] ?? m;
  });
const attribute = (attrs, name) => xmlText(new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1] ?? '');

/** pytest's JUnit XML as one record per test: its id, and why it failed or was skipped (null if neither). */
function readJunit(xml) {
  const cases = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const [, attrs, body = ''] = m;
    const id = `${attribute(attrs, 'classname').replaceAll('.', '/')}.py::${attribute(attrs, 'name')}`;
    const failed = /<(failure|error)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    const skipped = /<skipped\b([^>]*)/.exec(body);
    cases.push({
      id,
      failure: failed ? `${attribute(failed[2], 'message')}\n${xmlText(failed[3] ?? '')}`.trim() : null,
      skip: skipped ? attribute(skipped[1], 'message') || 'skipped by pytest' : null,
    });
  }
  return cases;
}

const python = pythonWithPytest();
if (!python) {
  test('the Python API (pytest)', (t) => {
    console.log('# skipped: pytest is not installed (apt-get install python3-pytest)');
    t.skip('pytest is not installed (apt-get install python3-pytest)');
  });
} else {
  const out = mkdtempSync(path.join(os.tmpdir(), 'sf-pytest-junit-'));
  const junit = path.join(out, 'pytest.xml');
  // No cache or bytecode in the checkout: CI checks that a test run leaves it unchanged.
  const run = spawnSync(python, ['-m', 'pytest', '-p', 'no:cacheprovider', '-q', '-rfEs', `--junitxml=${junit}`, 'tests'], {
    cwd: here,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    encoding: 'utf8',
    timeout: 600_000,
  });
  // pytest's own report (and its summary line) on stderr: stdout is the test runner's.
  process.stderr.write(`${run.stdout ?? ''}${run.stderr ?? ''}`);
  let cases = [];
  try {
    cases = readJunit(readFileSync(junit, 'utf8'));
  } catch {
    // No report: pytest did not get to run its tests; the test below says so.
  }
  rmSync(out, { recursive: true, force: true });
  test('pytest ran the Python API suite', () => {
    assert.ok(cases.length > 0, `pytest wrote no results (exit ${run.status}, ${run.error?.message ?? 'no error'}): see its output above`);
    // Exit 1 = some tests failed (each reported below); anything else is pytest itself failing.
    assert.ok(run.status === 0 || run.status === 1, `pytest exited with ${run.status}`);
  });
  for (const c of cases) {
    test(`python: ${c.id}`, (t) => {
      if (c.failure) assert.fail(c.failure);
      if (c.skip) {
        console.log(`# skipped: ${c.skip}`);
        t.skip(c.skip);
      }
    });
  }
}
