// Builds native/build/Release/snowflock.node with node-gyp, offline.
// Boundary: finds node-gyp and local Node headers, picks rebuild vs. incremental build, reports failure.
// Works from the repo root (`npm run build -w native`) and from native/ (`node scripts/build.mjs`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(dirname(fileURLToPath(import.meta.url)));
const buildDir = join(nativeDir, 'build');

function fail(message) {
  console.error(`native build: ${message}`);
  process.exit(1);
}

// Resolving through Node's module lookup finds node-gyp whether npm hoisted it to the root
// node_modules or kept it in native/node_modules; running it with our own node avoids PATH surprises.
function findNodeGyp() {
  try {
    return createRequire(join(nativeDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    fail('node-gyp is not installed (it is a devDependency of native/; run `npm ci` at the repository root).');
  }
}

const hasHeaders = (dir) => existsSync(join(dir, 'include', 'node', 'node_api.h'));

// node-gyp downloads headers when it has none, and this machine has no internet. So always pass a
// --nodedir that holds headers: an explicit npm setting, the prefix of the running node (/usr for
// Debian's nodejs), /usr, or node-gyp's own cache from an earlier online install.
function findNodeDir() {
  const configured = process.env.npm_config_nodedir;
  if (configured) {
    if (!hasHeaders(configured)) fail(`npm_config_nodedir=${configured} has no include/node/node_api.h.`);
    return configured;
  }
  const candidates = [
    dirname(dirname(process.execPath)),
    '/usr',
    join(homedir(), '.cache', 'node-gyp', process.versions.node),
  ];
  const found = candidates.find(hasHeaders);
  if (!found) {
    fail(
      `no Node.js headers found (looked for include/node/node_api.h under ${candidates.join(', ')}). ` +
        'Install them (e.g. the distribution\'s nodejs dev headers) or set npm_config_nodedir; ' +
        'node-gyp must not download them.',
    );
  }
  return found;
}

/** The .cc files binding.gyp's globs find now (src/core/* rooms and src/binding). */
function sourceFiles(dir = join(nativeDir, 'src'), found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, found);
    else if (entry.name.endsWith('.cc')) found.push(relative(nativeDir, full));
  }
  return found;
}

// An incremental `build` is only safe when configure already ran, binding.gyp has not changed since, and the
// globbed source list is the one configure saw (a new .cc file, e.g. from a merge, is missing from the Makefile).
function alreadyConfigured() {
  const makefile = join(buildDir, 'Makefile');
  const targetMk = join(buildDir, 'snowflock.target.mk');
  if (!existsSync(makefile) || !existsSync(join(buildDir, 'config.gypi')) || !existsSync(targetMk)) return false;
  if (statSync(join(nativeDir, 'binding.gyp')).mtimeMs > statSync(makefile).mtimeMs) return false;
  const configured = readFileSync(targetMk, 'utf8');
  return sourceFiles().every((file) => configured.includes(`/${file.replace(/\.cc$/, '.o')}`));
}

const nodeGyp = findNodeGyp();
const nodedir = findNodeDir();
const command = alreadyConfigured() ? 'build' : 'rebuild';
const args = [nodeGyp, command, `--nodedir=${nodedir}`, '-j', '2'];
console.log(`native build: node-gyp ${command} --nodedir=${nodedir} -j 2`);

const result = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit' });
if (result.error) fail(`could not start node-gyp: ${result.error.message}`);
if (result.status !== 0) {
  fail(`node-gyp ${command} failed (${result.signal ? `signal ${result.signal}` : `exit code ${result.status}`}); see the output above.`);
}
if (!existsSync(join(buildDir, 'Release', 'snowflock.node'))) {
  fail('node-gyp reported success but build/Release/snowflock.node is missing.');
}
console.log('native build: build/Release/snowflock.node is ready');
