// Finds import cycles: the module graph of the TypeScript/JavaScript under apps/ and native/lib, and the
// `#include "…"` graph of native/src, whose core rooms must also include only downward (core-rooms.mjs).
// Plain Node with no dependencies, so it runs before anything is installed.
// `node scripts/import-cycles.mjs [ROOT]` prints every cycle and room breach and exits 1, or prints a one-line summary.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { roomViolations } from './core-rooms.mjs';

const SKIP_DIRS = new Set(['node_modules', '.next', '.turbo', 'build', 'build-cmake', 'dist', 'out', 'generated', '.git']);
const MODULE_EXT = /\.(ts|tsx|mts|mjs)$/;
const MODULE_DIRS = ['apps', 'native/lib'];
const RESOLVE_EXTS = ['.ts', '.tsx', '.mts', '.mjs', '.js', '.jsx', '.cts', '.cjs'];
const INCLUDE_DIRS = ['native/src'];
const INCLUDE_EXT = /\.(h|hh|hpp|hxx|inl|c|cc|cpp|cxx)$/;
/** Elementary cycles printed at most; a tangle beyond that is summarised per strongly connected group. */
const MAX_CYCLES = 2000;

function listFiles(dir, pattern, found = []) {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) listFiles(full, pattern, found);
    } else if (entry.isFile() && pattern.test(entry.name) && !/\.d\.(ts|mts)$/.test(entry.name)) {
      found.push(full);
    }
  }
  return found;
}

const isFile = (p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * Source text with comments blanked (strings and template literals kept), so that commented-out imports are not
 * edges. Newlines survive, which keeps the text's shape for the patterns below.
 */
export function stripComments(text) {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < n && text[j] !== c) {
        if (text[j] === '\\') j++;
        else if (c !== '`' && text[j] === '\n') break;
        j++;
      }
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The module specifiers a TS/JS source imports: [{ spec, typeOnly }]. */
export function moduleImports(source) {
  const text = stripComments(source);
  const found = [];
  const patterns = [
    // import x from '…', import { a, type B } from '…', import type { T } from '…', import * as m from '…'
    /(?:^|[^\w$.])import\s+(type\s+)?[\w$*{][^'";]*?\bfrom\s*(['"])([^'"\n]+)\2/g,
    // export { a } from '…', export type { T } from '…', export * from '…', export * as ns from '…'
    /(?:^|[^\w$.])export\s+(type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(['"])([^'"\n]+)\2/g,
    // import '…' (for its side effects)
    /(?:^|[^\w$.])import\s*()(['"])([^'"\n]+)\2/g,
    // import('…') with a literal
    /(?:^|[^\w$.])import\s*\(\s*()(['"])([^'"\n]+)\2\s*[,)]/g,
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) found.push({ spec: m[3], typeOnly: Boolean(m[1]) });
  }
  return found;
}

/** The quoted includes of a C/C++ source, in order. */
export function quotedIncludes(source) {
  const text = stripComments(source);
  return [...text.matchAll(/^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"/gm)].map((m) => m[1]);
}

function resolveFileLike(base) {
  if (isFile(base)) return base;
  const swapped = base.replace(/\.(m|c)?jsx?$/, '');
  if (swapped !== base) {
    for (const ext of RESOLVE_EXTS) if (isFile(swapped + ext)) return swapped + ext;
  }
  for (const ext of RESOLVE_EXTS) if (isFile(base + ext)) return base + ext;
  for (const ext of RESOLVE_EXTS) if (isFile(path.join(base, `index${ext}`))) return path.join(base, `index${ext}`);
  return null;
}

/** The repository's own packages (workspaces), so `@snowflock/x/y` imports become edges too. */
function workspacePackages(root) {
  const packages = new Map();
  let globs = [];
  try {
    globs = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).workspaces ?? [];
  } catch {
    return packages;
  }
  const dirs = [];
  for (const g of Array.isArray(globs) ? globs : (globs.packages ?? [])) {
    if (g.endsWith('/*')) {
      const parent = path.join(root, g.slice(0, -2));
      if (existsSync(parent)) for (const d of readdirSync(parent)) dirs.push(path.join(parent, d));
    } else {
      dirs.push(path.join(root, g));
    }
  }
  for (const dir of dirs) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name) packages.set(pkg.name, { dir, exports: pkg.exports, main: pkg.main });
    } catch {
      // not a package
    }
  }
  return packages;
}

function exportTarget(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    for (const key of ['import', 'types', 'default', 'node']) {
      const t = exportTarget(value[key]);
      if (t) return t;
    }
  }
  return null;
}

function resolvePackage(spec, packages) {
  for (const [name, pkg] of packages) {
    if (spec !== name && !spec.startsWith(`${name}/`)) continue;
    const sub = `.${spec.slice(name.length)}`;
    let target = null;
    if (typeof pkg.exports === 'string' || (pkg.exports && !Object.keys(pkg.exports)[0]?.startsWith('.'))) {
      target = sub === '.' ? exportTarget(pkg.exports) : null;
    } else if (pkg.exports) {
      target = exportTarget(pkg.exports[sub]);
    } else {
      target = sub === '.' ? (pkg.main ?? 'index') : sub;
    }
    return target ? resolveFileLike(path.join(pkg.dir, target)) : null;
  }
  return null;
}

/**
 * The import graph of ROOT: Map(file → Map(target → typeOnly)), paths relative to ROOT with '/' separators.
 * Only files in the scanned folders are nodes; imports of anything else cannot close a cycle and are dropped.
 */
export function buildGraph(root) {
  const rel = (p) => path.relative(root, p).split(path.sep).join('/');
  const graph = new Map();
  const packages = workspacePackages(root);
  const modules = MODULE_DIRS.flatMap((d) => listFiles(path.join(root, d), MODULE_EXT));
  const moduleSet = new Set(modules);
  for (const file of modules) {
    const edges = new Map();
    for (const { spec, typeOnly } of moduleImports(readFileSync(file, 'utf8'))) {
      const target =
        spec.startsWith('.') || spec.startsWith('/')
          ? resolveFileLike(path.resolve(path.dirname(file), spec))
          : resolvePackage(spec, packages);
      if (!target || !moduleSet.has(target) || target === file) continue;
      const key = rel(target);
      // A target imported both ways is a value edge.
      edges.set(key, (edges.get(key) ?? true) && typeOnly);
    }
    graph.set(rel(file), edges);
  }
  const sources = INCLUDE_DIRS.flatMap((d) => listFiles(path.join(root, d), INCLUDE_EXT));
  const sourceSet = new Set(sources);
  for (const file of sources) {
    const edges = new Map();
    for (const spec of quotedIncludes(readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), spec);
      if (sourceSet.has(target) && target !== file) edges.set(rel(target), false);
    }
    graph.set(rel(file), edges);
  }
  return graph;
}

/** Strongly connected groups with more than one member (Tarjan, iterative so deep graphs cannot overflow). */
function stronglyConnected(graph) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const groups = [];
  let counter = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work = [[start, [...(graph.get(start)?.keys() ?? [])], 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [node, succ] = frame;
      if (frame[2] < succ.length) {
        const next = succ[frame[2]++];
        if (!graph.has(next)) continue;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          work.push([next, [...graph.get(next).keys()], 0]);
        } else if (onStack.has(next)) {
          low.set(node, Math.min(low.get(node), index.get(next)));
        }
      } else {
        work.pop();
        if (work.length > 0) {
          const parent = work[work.length - 1][0];
          low.set(parent, Math.min(low.get(parent), low.get(node)));
        }
        if (low.get(node) === index.get(node)) {
          const group = [];
          let member;
          do {
            member = stack.pop();
            onStack.delete(member);
            group.push(member);
          } while (member !== node);
          if (group.length > 1) groups.push(group.sort());
        }
      }
    }
  }
  return groups;
}

/**
 * Every elementary cycle of the graph, each as [a, b, …, a] starting at its smallest member, plus whether all its
 * edges are type-only imports. Stops at `limit` cycles (truncated: true).
 */
export function findCycles(graph, limit = MAX_CYCLES) {
  const cycles = [];
  let truncated = false;
  const groups = stronglyConnected(graph);
  for (const group of groups) {
    const members = new Set(group);
    // Cycles whose smallest member is `start` use only members above it, so each cycle is found exactly once.
    for (const start of group) {
      const allowed = (n) => members.has(n) && n >= start;
      const pathNodes = [start];
      const onPath = new Set([start]);
      const iters = [[...graph.get(start).keys()].filter(allowed).sort()];
      const positions = [0];
      while (iters.length > 0 && !truncated) {
        const depth = iters.length - 1;
        if (positions[depth] >= iters[depth].length) {
          iters.pop();
          positions.pop();
          onPath.delete(pathNodes.pop());
          continue;
        }
        const next = iters[depth][positions[depth]++];
        if (next === start) {
          const cyclePath = [...pathNodes, start];
          let typeOnly = true;
          for (let k = 0; k + 1 < cyclePath.length; k++) typeOnly &&= graph.get(cyclePath[k]).get(cyclePath[k + 1]);
          cycles.push({ path: cyclePath, typeOnly });
          if (cycles.length >= limit) truncated = true;
        } else if (!onPath.has(next)) {
          pathNodes.push(next);
          onPath.add(next);
          iters.push([...graph.get(next).keys()].filter(allowed).sort());
          positions.push(0);
        }
      }
      if (truncated) break;
    }
    if (truncated) break;
  }
  return { cycles, groups, truncated };
}

/** The whole check for a repository root: its graph's size and every cycle in it. */
export function findImportCycles(root) {
  const resolved = path.resolve(root);
  const graph = buildGraph(resolved);
  let edges = 0;
  for (const targets of graph.values()) edges += targets.size;
  return { files: graph.size, edges, ...findCycles(graph), rooms: roomViolations(graph, resolved) };
}

export function formatCycle(cycle) {
  return `${cycle.path.join(' → ')}${cycle.typeOnly ? '   (type imports only)' : ''}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..'));
  const { files, edges, cycles, groups, truncated, rooms } = findImportCycles(root);
  for (const violation of rooms) console.log(violation);
  if (rooms.length > 0) {
    console.error(`import-cycles: ${rooms.length} include(s) against the core's room order (scripts/core-rooms.mjs)`);
    process.exitCode = 1;
  }
  if (cycles.length === 0) {
    console.log(`import-cycles: no cycles among ${files} files (${edges} imports/includes)${rooms.length ? '' : '; core rooms in order'}`);
  } else {
    for (const cycle of cycles) console.log(formatCycle(cycle));
    if (truncated) {
      console.log(`… stopped after ${cycles.length} cycles; the tangled groups are:`);
      for (const g of groups) console.log(`  ${g.length} files: ${g.join(', ')}`);
    }
    console.error(
      `import-cycles: ${truncated ? 'at least ' : ''}${cycles.length} cycle(s) among ${files} files ` +
        `(${groups.length} tangled group(s)); break each by moving the shared part into a module both can import`,
    );
    process.exitCode = 1;
  }
}
