// The C++ core's rooms (DESIGN §3) include only downward: base ← memory ← devices ← vmm, and memserver uses base,
// memory and devices (a fork's disk snapshot is a devices BlockLayer it serves) but never vmm. Checked on the include graph import-cycles.mjs builds; core code never includes napi.h.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const CORE = 'native/src/core/';

/** What each room may include besides itself. A file directly in core/ or in an unknown room is a violation. */
export const ROOM_MAY_INCLUDE = {
  base: [],
  memory: ['base'],
  devices: ['base', 'memory'],
  vmm: ['base', 'memory', 'devices'],
  memserver: ['base', 'memory', 'devices'],
};

const roomOf = (file) => (file.startsWith(CORE) ? file.slice(CORE.length).split('/')[0] : null);

/**
 * Every include edge of `graph` (file → Map(target → typeOnly), as buildGraph returns) that breaks the room order,
 * and every core file outside a known room or including napi.h (`root` is where to read files from).
 */
export function roomViolations(graph, root) {
  const found = [];
  for (const [file, targets] of graph) {
    const room = roomOf(file);
    if (room === null) continue;
    const allowed = ROOM_MAY_INCLUDE[room];
    if (!allowed) {
      found.push(`${file}: not in a room (${Object.keys(ROOM_MAY_INCLUDE).join(', ')})`);
      continue;
    }
    for (const target of targets.keys()) {
      const to = roomOf(target);
      if (to !== null && to !== room && !allowed.includes(to)) found.push(`${file} → ${target}: ${room} may not include ${to}`);
    }
    if (/#\s*include\s*[<"]napi\.h[>"]/.test(readFileSync(path.join(root, file), 'utf8'))) {
      found.push(`${file}: core code must not include napi.h (the binding does)`);
    }
  }
  return found.sort();
}
