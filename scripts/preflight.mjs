// Checks the machine before installing or building: a Node.js new enough for these scripts, and the C++ toolchain
// that better-sqlite3 and the native addon are compiled with. Each problem is one sentence that says how to fix it,
// instead of a node-gyp error after minutes of installing. Plain Node: runs before anything is installed.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const MIN_NODE = [20, 11];

/** Exits at import time on a too-old Node: later modules use import.meta.dirname (Node ≥ 20.11). */
function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])) return;
  console.error(
    `snowflock: Node.js ${process.versions.node} is too old; install Node.js ${MIN_NODE.join('.')} or newer ` +
      "(e.g. from https://nodejs.org or NodeSource's Debian packages) and run the command again",
  );
  process.exit(1);
}
checkNode();

/** The commands that compile better-sqlite3 and the native addon (node-gyp runs python3); each is a Debian package. */
const TOOLS = ['g++', 'make', 'python3'];

/** Whether `command` is an executable file on PATH. */
export function onPath(command, envPath = process.env.PATH ?? '') {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** The one sentence naming the missing build tools and how to install them, or null when all are there. */
export function missingToolsMessage(has = onPath) {
  const missing = TOOLS.filter((command) => !has(command));
  if (missing.length === 0) return null;
  const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}`;
  const [verb, them] = missing.length === 1 ? ['is', 'it'] : ['are', 'them'];
  return (
    `snowflock: ${list} ${verb} missing (better-sqlite3 and the native addon are compiled with g++, make and ` +
    `python3); install ${them} with: sudo apt-get install ${missing.join(' ')}`
  );
}

/** True when the machine can install and build; otherwise prints why and returns false. */
export function preflight() {
  const message = missingToolsMessage();
  if (message) console.error(message);
  return message === null;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(preflight() ? 0 : 1);
