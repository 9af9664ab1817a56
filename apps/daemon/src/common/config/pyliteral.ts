// Safe reader for the classic SnowFlock config files (Python `name = literal` lines): one pass that
// tokenizes, parses and folds constants. Nothing is executed or looked up; anything but literals is an error.
import { SfError } from '../errors.ts';

export type PyValue = number | string | boolean | null | PyValue[] | PyDict;
export interface PyDict {
  [key: string]: PyValue;
}
export interface PyAssignment {
  value: PyValue;
  line: number;
}

/** Caps that keep a hostile file from costing memory, time or stack; all are far above any real config. */
export const PY_LIMITS = Object.freeze({
  maxFileBytes: 1024 * 1024,
  maxStringLength: 64 * 1024,
  maxDepth: 32,
  maxShift: 64,
  maxMagnitude: 1n << 64n,
});

const LITERALS_HINT = "values must be literals: numbers, 'strings', True/False/None, [lists], (tuples) or {'dicts'}";
const NEVER_RUN = 'the config is data and is never executed';

// Source lines of list items and dict entries, so checks of nested values can name the line they are on
// while the values themselves stay plain JSON-like data.
const childLines = new WeakMap<object, number[] | Map<string, number>>();

/** The line a list item or dict entry of a parsed value starts on (undefined for values not from a file). */
export function lineOfChild(container: PyValue[] | PyDict, key: string | number): number | undefined {
  const lines = childLines.get(container);
  if (Array.isArray(lines)) return typeof key === 'number' ? lines[key] : undefined;
  return typeof key === 'string' ? lines?.get(key) : undefined;
}

/** `cluster_hosts[1].cpus`: the notation every config message uses for where a value sits. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(appendPath, '');
}

export function appendPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (/^[A-Za-z_]\w*$/.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

type Tok =
  | { kind: 'name'; text: string; line: number; col: number }
  | { kind: 'int'; text: string; value: bigint; line: number; col: number }
  | { kind: 'str'; text: string; value: string; line: number; col: number }
  | { kind: 'op'; text: string; line: number; col: number }
  | { kind: 'newline'; text: string; line: number; col: number }
  | { kind: 'eof'; text: string; line: number; col: number };

type Fail = (line: number, col: number, message: string) => never;

// biome-ignore format: a word list reads best packed
const PY_KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del',
  'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal',
  'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);
// Tried longest first (3, 2, 1 characters), so '//=' wins over '//' and '/'.
// biome-ignore format: a token list reads best packed
const OPERATORS = new Set([
  '**=', '//=', '>>=', '<<=', '...', '**', '//', '<<', '>>', '==', '!=', '<=', '>=', '+=', '-=', '*=', '/=', '%=',
  '&=', '|=', '^=', '@=', '->', ':=', '(', ')', '[', ']', '{', '}', ',', ':', '=', '+', '-', '*', '/', '%', '<',
  '>', '.', ';', '~', '|', '&', '^', '@', '!',
]);
const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSERS = new Set([')', ']', '}']);
const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

class Lexer {
  private pos = 0;
  private line = 1;
  private col = 1;
  private depth = 0; // open brackets: newlines inside them join lines, as in Python
  private lineHasTokens = false;
  private peeked: Tok | null = null;

  constructor(
    private readonly src: string,
    private readonly fail: Fail,
  ) {}

  peek(): Tok {
    if (this.peeked === null) this.peeked = this.lex();
    return this.peeked;
  }

  next(): Tok {
    const tok = this.peek();
    this.peeked = null;
    return tok;
  }

  private advance(n: number): void {
    for (let i = 0; i < n; i++) {
      if (this.src[this.pos++] === '\n') {
        this.line++;
        this.col = 1;
      } else this.col++;
    }
  }

  private lex(): Tok {
    const src = this.src;
    for (;;) {
      const c = src[this.pos];
      if (c === undefined) {
        // The last statement needs its end-of-line even when the file has no final newline.
        if (this.lineHasTokens && this.depth === 0) return this.newline();
        return { kind: 'eof', text: '', line: this.line, col: this.col };
      }
      if (c === ' ' || c === '\t' || c === '\f') {
        this.advance(1);
      } else if (c === '#') {
        while (this.pos < src.length && src[this.pos] !== '\n') {
          if (src[this.pos] === '\0') this.fail(this.line, this.col, 'the file contains a NUL byte (is it a binary file?)');
          this.advance(1);
        }
      } else if (c === '\n') {
        if (this.depth === 0 && this.lineHasTokens) return this.newline();
        this.advance(1);
      } else if (c === '\\' && src[this.pos + 1] === '\n') {
        this.advance(2); // explicit line continuation
      } else {
        return this.token(c);
      }
    }
  }

  private newline(): Tok {
    const tok: Tok = { kind: 'newline', text: '', line: this.line, col: this.col };
    this.lineHasTokens = false;
    if (this.src[this.pos] === '\n') this.advance(1);
    return tok;
  }

  private token(c: string): Tok {
    const { line, col } = this;
    if (c === '\0') this.fail(line, col, 'the file contains a NUL byte (is it a binary file?)');
    if (!this.lineHasTokens && this.depth === 0 && col !== 1) {
      this.fail(line, col, 'unexpected indentation: each `name = value` line must start in the first column');
    }
    this.lineHasTokens = true;
    if (c >= '0' && c <= '9') return this.number(line, col);
    if (c === '.' && /[0-9]/.test(this.src[this.pos + 1] ?? '')) {
      this.fail(line, col, 'floating-point numbers are not supported: write a whole number');
    }
    if (/[A-Za-z_]/.test(c)) {
      const text = /[A-Za-z_]\w*/y;
      text.lastIndex = this.pos;
      const name = text.exec(this.src)![0];
      const quote = this.src[this.pos + name.length];
      if (quote === "'" || quote === '"') {
        const prefix = name.toLowerCase();
        if (prefix === 'r' || prefix === 'u') {
          this.advance(name.length);
          return this.string(line, col, prefix === 'r');
        }
        if (/^(b|br|rb)$/.test(prefix)) this.fail(line, col, "byte strings (b'...') are not supported: use a plain string");
        if (/^(f|fr|rf|t|tr|rt)$/.test(prefix)) this.fail(line, col, `${prefix}-strings are not supported: ${NEVER_RUN}`);
      }
      this.advance(name.length);
      return { kind: 'name', text: name, line, col };
    }
    if (c === "'" || c === '"') return this.string(line, col, false);
    if (c === '\\') this.fail(line, col, 'a backslash outside a string must be the last character of its line');
    for (let len = 3; len >= 1; len--) {
      const op = this.src.slice(this.pos, this.pos + len);
      if (!OPERATORS.has(op)) continue;
      if (OPENERS[op] !== undefined) this.depth++;
      else if (CLOSERS.has(op) && this.depth > 0) this.depth--;
      this.advance(len);
      return { kind: 'op', text: op, line, col };
    }
    const code = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return this.fail(line, col, `unexpected character ${JSON.stringify(c)} (U+${code})`);
  }

  private number(line: number, col: number): Tok {
    const re = /[0-9A-Za-z_]*/y;
    re.lastIndex = this.pos;
    const raw = re.exec(this.src)![0];
    const after = this.src[this.pos + raw.length];
    if (after === '.' || /^[0-9_]+[eE]/.test(raw)) this.fail(line, col, 'floating-point numbers are not supported: write a whole number');
    // Plain short decimals are nearly every number in a config: skip the general checks for them.
    if (!/^(?:0|[1-9][0-9]{0,15})$/.test(raw)) this.checkIntLiteral(raw, line, col);
    const value = BigInt(raw.replaceAll('_', ''));
    if (value > PY_LIMITS.maxMagnitude) this.fail(line, col, `number too large: ${raw} is more than 2**64`);
    this.advance(raw.length);
    return { kind: 'int', text: raw, value, line, col };
  }

  private checkIntLiteral(raw: string, line: number, col: number): void {
    if (/^[0-9_]+[jJ]$/.test(raw)) this.fail(line, col, 'complex numbers are not supported');
    const isInt =
      /^0[xX](?:_?[0-9a-fA-F])+$/.test(raw) ||
      /^0[oO](?:_?[0-7])+$/.test(raw) ||
      /^0[bB](?:_?[01])+$/.test(raw) ||
      /^(?:0(?:_?0)*|[1-9](?:_?[0-9])*)$/.test(raw);
    if (!isInt) {
      if (/^0[0-9_]+$/.test(raw))
        this.fail(line, col, `leading zeros are not allowed in '${raw}': write 0o${raw.replace(/^[0_]+/, '')} for octal`);
      this.fail(line, col, `'${raw}' is not a valid integer`);
    }
    // Digit count first: BigInt() of a huge literal is itself slow, and it could never fit anyway.
    if (raw.replace(/^0[xXoObB]/, '').replace(/^[0_]+/, '').length > 80) this.fail(line, col, 'number too large');
  }

  private string(line: number, col: number, raw: boolean): Tok {
    const src = this.src;
    const q = src[this.pos]!;
    const triple = src.startsWith(q + q + q, this.pos);
    const start = this.pos;
    this.advance(triple ? 3 : 1);
    let out = '';
    for (;;) {
      if (out.length > PY_LIMITS.maxStringLength) {
        this.fail(line, col, `string longer than ${PY_LIMITS.maxStringLength / 1024} KiB`);
      }
      const c = src[this.pos];
      if (c === undefined) {
        this.fail(line, col, triple ? 'unterminated triple-quoted string' : 'unterminated string');
      }
      if (c === '\0') this.fail(this.line, this.col, 'the file contains a NUL byte (write \\x00 inside a string)');
      if (triple ? src.startsWith(q + q + q, this.pos) : c === q) {
        this.advance(triple ? 3 : 1);
        break;
      }
      if (c === '\n' && !triple) {
        this.fail(line, col, 'unterminated string: a quoted string must end on its line (use triple quotes for more lines)');
      }
      if (c !== '\\') {
        out += c;
        this.advance(1);
        continue;
      }
      const e = src[this.pos + 1];
      if (e === undefined) continue; // reported as unterminated on the next turn
      if (raw) {
        // Raw strings keep the backslash; it only stops the next character from ending the string.
        out += c + e;
        this.advance(2);
        continue;
      }
      out += this.escape(e);
    }
    return { kind: 'str', text: src.slice(start, this.pos), value: out, line, col };
  }

  /** Consumes one escape sequence (the backslash is at this.pos) and returns what it stands for. */
  private escape(e: string): string {
    const { line, col } = this;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      this.advance(2);
      return simple;
    }
    if (e === '\n') {
      this.advance(2);
      return '';
    }
    const hex = (len: number, name: string): number => {
      const digits = this.src.slice(this.pos + 2, this.pos + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(digits)) {
        this.fail(line, col, `the escape \\${name} needs exactly ${len} hex digits`);
      }
      this.advance(2 + len);
      return parseInt(digits, 16);
    };
    if (e === 'x') return String.fromCharCode(hex(2, 'xNN'));
    if (e === 'u') return String.fromCharCode(hex(4, 'uNNNN'));
    if (e === 'U') {
      const cp = hex(8, 'UNNNNNNNN');
      if (cp > 0x10ffff) this.fail(line, col, `\\U${cp.toString(16)} is not a Unicode code point`);
      return String.fromCodePoint(cp);
    }
    if (e >= '0' && e <= '7') {
      const m = /[0-7]{1,3}/y;
      m.lastIndex = this.pos + 1;
      const digits = m.exec(this.src)![0];
      this.advance(1 + digits.length);
      return String.fromCharCode(parseInt(digits, 8));
    }
    if (e === 'N') this.fail(line, col, '\\N{...} escapes are not supported: write the character itself');
    // Python keeps unknown escapes as they are (e.g. '\d'), and so do we.
    this.advance(2);
    return `\\${e}`;
  }
}

/** Values while folding: integers stay exact until they are stored. */
type Val = bigint | string | boolean | null | PyValue[] | PyDict;
type Pos = { line: number; col: number };

function describeTok(tok: Tok): string {
  switch (tok.kind) {
    case 'newline':
      return 'the end of the line';
    case 'eof':
      return 'the end of the file';
    case 'str':
      return 'a string';
    case 'int':
      return `the number ${tok.text}`;
    default:
      return `'${tok.text}'`;
  }
}

function typeName(v: Val): string {
  if (typeof v === 'bigint') return 'an integer';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null) return 'None';
  return Array.isArray(v) ? 'a list' : 'a dict';
}

class Parser {
  private readonly lx: Lexer;
  private readonly path: (string | number)[] = [];
  private readonly open: Tok[] = []; // brackets not yet closed, for "never closed" messages
  private depth = 0;

  constructor(
    src: string,
    private readonly file: string,
  ) {
    this.lx = new Lexer(src, this.fail);
  }

  private readonly fail: Fail = (line, col, message) => {
    const where = formatPath(this.path);
    throw new SfError('BAD_CONFIG', `${this.file}:${line}:${col}: ${where ? `${where}: ` : ''}${message}`);
  };

  private failAt(pos: Pos, message: string): never {
    return this.fail(pos.line, pos.col, message);
  }

  parseFile(): Map<string, PyAssignment> {
    const out = new Map<string, PyAssignment>();
    for (;;) {
      const tok = this.lx.next();
      if (tok.kind === 'newline') continue;
      if (tok.kind === 'eof') return out;
      const name = this.target(tok);
      const previous = out.get(name);
      this.path.push(name);
      if (previous) this.failAt(tok, `'${name}' is already set on line ${previous.line}: set each key once`);
      const value = this.topValue();
      const end = this.lx.next();
      if (end.kind === 'op' && end.text === '=') this.failAt(end, 'chained assignments like `a = b = 1` are not allowed');
      if (end.kind !== 'newline' && end.kind !== 'eof' && !(end.kind === 'op' && end.text === ';')) {
        this.unexpected(end, 'the end of the line after the value');
      }
      out.set(name, { value, line: tok.line });
      this.path.pop();
    }
  }

  /** The `name =` part of a statement. */
  private target(tok: Tok): string {
    const shape = 'a config file holds only `name = value` lines';
    if (tok.kind !== 'name')
      return this.failAt(tok, `expected a setting name at the start of the line (${shape}), got ${describeTok(tok)}`);
    const name = tok.text;
    if (name === 'import' || name === 'from') this.failAt(tok, `import statements are not allowed: ${NEVER_RUN}`);
    if (name === 'True' || name === 'False' || name === 'None') this.failAt(tok, `cannot assign to ${name}`);
    if (PY_KEYWORDS.has(name)) this.failAt(tok, `'${name}' statements are not allowed: ${shape}`);
    const eq = this.lx.next();
    if (eq.kind === 'op' && eq.text === '=') return name;
    const at = `after '${name}'`;
    if (eq.kind === 'op') {
      if (eq.text === '(') this.failAt(eq, `function calls are not allowed: ${NEVER_RUN}`);
      if (eq.text === '.' || eq.text === '[') this.failAt(eq, `only plain names can be set ${at} (no attributes or items)`);
      if (eq.text === ':') this.failAt(eq, `type annotations are not allowed ${at}`);
      if (eq.text.length > 1 && eq.text.endsWith('=') && !['==', '!=', '<=', '>='].includes(eq.text)) {
        this.failAt(eq, `'${eq.text}' is not allowed ${at}: write \`${name} = value\``);
      }
    }
    return this.failAt(eq, `expected '=' ${at}, got ${describeTok(eq)}`);
  }

  /** A statement's value: an expression, or a bare tuple `a, b` (which Python would also make a tuple). */
  private topValue(): PyValue {
    const first = this.lx.peek();
    const value = this.store(this.expr(), first);
    const comma = this.lx.peek();
    if (!(comma.kind === 'op' && comma.text === ',')) return value;
    const items: PyValue[] = [value];
    const lines = [first.line];
    while (this.isOp(this.lx.peek(), ',')) {
      this.lx.next();
      const tok = this.lx.peek();
      if (tok.kind === 'newline' || tok.kind === 'eof' || this.isOp(tok, ';')) break;
      this.path.push(items.length);
      lines.push(tok.line);
      items.push(this.store(this.expr(), tok));
      this.path.pop();
    }
    childLines.set(items, lines);
    return items;
  }

  private isOp(tok: Tok, text: string): boolean {
    return tok.kind === 'op' && tok.text === text;
  }

  /** Turns a folded value into what callers see; integers must fit a JS number exactly. */
  private store(v: Val, at: Pos): PyValue {
    if (typeof v !== 'bigint') return v;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.failAt(at, `number too large: ${v} is beyond ±${Number.MAX_SAFE_INTEGER} (2**53 - 1)`);
    }
    return Number(v);
  }

  private enter(at: Pos): void {
    if (++this.depth > PY_LIMITS.maxDepth) this.failAt(at, `values are nested more than ${PY_LIMITS.maxDepth} levels deep`);
  }

  // Precedence, loosest first: << >>, then + -, then * / // %, then unary + -. Each level loops rather
  // than recurses over its operands, so long sums cannot exhaust the stack.
  private expr(): Val {
    let left = this.arith();
    for (let op = this.lx.peek(); this.isOp(op, '<<') || this.isOp(op, '>>'); op = this.lx.peek()) {
      this.lx.next();
      left = this.binary(op, left, this.arith());
    }
    return left;
  }

  private arith(): Val {
    let left = this.term();
    for (let op = this.lx.peek(); this.isOp(op, '+') || this.isOp(op, '-'); op = this.lx.peek()) {
      this.lx.next();
      left = this.binary(op, left, this.term());
    }
    return left;
  }

  private term(): Val {
    let left = this.unary();
    for (let op = this.lx.peek(); op.kind === 'op' && ['*', '/', '//', '%'].includes(op.text); op = this.lx.peek()) {
      this.lx.next();
      left = this.binary(op, left, this.unary());
    }
    return left;
  }

  private unary(): Val {
    const op = this.lx.peek();
    if (op.kind === 'op' && (op.text === '-' || op.text === '+')) {
      this.lx.next();
      this.enter(op);
      const v = this.unary();
      this.depth--;
      if (typeof v !== 'bigint') this.failAt(op, `unary '${op.text}' needs an integer, got ${typeName(v)}`);
      return op.text === '-' ? this.checked(-v, op) : v;
    }
    if (op.kind === 'op' && op.text === '~') this.failAt(op, "the '~' operator is not supported");
    const value = this.atom();
    const after = this.lx.peek();
    if (after.kind === 'op') {
      if (after.text === '**')
        this.failAt(after, "there is no '**' operator here: write the number out, or use << for powers of two (1 << 30)");
      if (after.text === '(') this.failAt(after, `calls are not allowed: ${NEVER_RUN}`);
      if (after.text === '[') this.failAt(after, `indexing and slicing are not allowed: ${LITERALS_HINT}`);
      if (after.text === '.') this.failAt(after, `attribute access is not allowed: ${NEVER_RUN}`);
    }
    return value;
  }

  private checked(v: bigint, at: Pos): bigint {
    if (v > PY_LIMITS.maxMagnitude || v < -PY_LIMITS.maxMagnitude) {
      this.failAt(at, 'number too large: results must stay within ±2**64');
    }
    return v;
  }

  private binary(op: Tok, a: Val, b: Val): Val {
    if (op.text === '+' && typeof a === 'string' && typeof b === 'string') {
      const joined = a + b;
      if (joined.length > PY_LIMITS.maxStringLength) this.failAt(op, `string longer than ${PY_LIMITS.maxStringLength / 1024} KiB`);
      return joined;
    }
    if (typeof a !== 'bigint' || typeof b !== 'bigint') {
      const hint = op.text === '+' ? ' (+ joins two strings or adds two integers)' : '';
      return this.failAt(op, `cannot apply '${op.text}' to ${typeName(a)} and ${typeName(b)}${hint}`);
    }
    switch (op.text) {
      case '+':
        return this.checked(a + b, op);
      case '-':
        return this.checked(a - b, op);
      case '*':
        return this.checked(a * b, op);
      case '<<':
      case '>>': {
        if (b < 0n) this.failAt(op, 'negative shift count');
        if (b > BigInt(PY_LIMITS.maxShift)) this.failAt(op, `shift count ${b} is more than ${PY_LIMITS.maxShift}`);
        return op.text === '<<' ? this.checked(a << b, op) : a >> b; // bigint >> floors like Python's
      }
    }
    if (b === 0n) this.failAt(op, 'division by zero');
    if (op.text === '/') {
      if (a % b !== 0n) this.failAt(op, `${a} / ${b} is not a whole number: use // for floor division`);
      return a / b;
    }
    // Python floors the quotient and gives the remainder the divisor's sign; bigint truncates toward zero.
    const q = a / b;
    const r = a % b;
    const adjust = r !== 0n && r < 0n !== b < 0n;
    if (op.text === '//') return adjust ? q - 1n : q;
    return adjust ? r + b : r;
  }

  private atom(): Val {
    const tok = this.lx.next();
    switch (tok.kind) {
      case 'int':
        return tok.value;
      case 'str': {
        let s = tok.value;
        while (this.lx.peek().kind === 'str') {
          const next = this.lx.next() as Tok & { kind: 'str' };
          s += next.value;
          if (s.length > PY_LIMITS.maxStringLength) this.failAt(next, `string longer than ${PY_LIMITS.maxStringLength / 1024} KiB`);
        }
        return s;
      }
      case 'name':
        return this.name(tok);
      case 'op':
        if (tok.text === '[') return this.list(tok);
        if (tok.text === '(') return this.parens(tok);
        if (tok.text === '{') return this.dict(tok);
        if (tok.text === '*' || tok.text === '**') this.failAt(tok, `unpacking is not allowed: ${LITERALS_HINT}`);
        return this.failAt(tok, `expected a value, got ${describeTok(tok)}`);
      case 'eof':
        return this.unclosedOr(tok, 'expected a value, got the end of the file');
      default:
        return this.failAt(tok, `expected a value, got ${describeTok(tok)}`);
    }
  }

  private name(tok: Tok): Val {
    const name = tok.text;
    if (name === 'True') return true;
    if (name === 'False') return false;
    if (name === 'None') return null;
    if (name === 'lambda') this.failAt(tok, `lambda expressions are not allowed: ${NEVER_RUN}`);
    if (name === 'import') this.failAt(tok, `import is not allowed: ${NEVER_RUN}`);
    if (name === 'not') this.failAt(tok, "'not' is not supported: write True or False");
    if (name === 'yield' || name === 'await') this.failAt(tok, `'${name}' is not allowed: ${NEVER_RUN}`);
    if (this.isOp(this.lx.peek(), '(')) this.failAt(tok, `function calls like ${name}(...) are not allowed: ${NEVER_RUN}`);
    const fix: Record<string, string> = { true: 'True', false: 'False', none: 'None', null: 'None' };
    const hint = fix[name] ? ` (did you mean ${fix[name]}?)` : '';
    return this.failAt(tok, `'${name}' is a name, not a value${hint}: ${LITERALS_HINT}; other settings cannot be referenced`);
  }

  /** At the end of the file inside brackets, the useful report is where the bracket was opened. */
  private unclosedOr(tok: Tok, message: string): never {
    const open = this.open[this.open.length - 1];
    if (tok.kind === 'eof' && open)
      this.failAt(open, `'${open.text}' is never closed: expected '${OPENERS[open.text]}' before the end of the file`);
    return this.failAt(tok, message);
  }

  private unexpected(tok: Tok, expected: string): never {
    if (tok.kind === 'name') {
      if (tok.text === 'for') this.failAt(tok, `comprehensions are not allowed: ${NEVER_RUN}`);
      if (tok.text === 'if') this.failAt(tok, `conditional expressions are not allowed: ${LITERALS_HINT}`);
      if (['and', 'or', 'in', 'is', 'not'].includes(tok.text)) this.failAt(tok, `'${tok.text}' is not supported: ${LITERALS_HINT}`);
    }
    if (tok.kind === 'op') {
      if (['<', '>', '==', '!=', '<=', '>='].includes(tok.text)) this.failAt(tok, `comparisons are not supported: ${LITERALS_HINT}`);
      if (['|', '&', '^', '@', '!'].includes(tok.text))
        this.failAt(tok, `the '${tok.text}' operator is not supported (use + - * // % << >>)`);
    }
    return this.unclosedOr(tok, `expected ${expected}, got ${describeTok(tok)}`);
  }

  private list(open: Tok): PyValue[] {
    this.enter(open);
    this.open.push(open);
    const items: PyValue[] = [];
    const lines: number[] = [];
    for (;;) {
      const first = this.lx.peek();
      if (this.isOp(first, ']')) {
        this.lx.next();
        break;
      }
      this.path.push(items.length);
      lines.push(first.line);
      items.push(this.store(this.expr(), first));
      this.path.pop();
      const sep = this.lx.next();
      if (this.isOp(sep, ']')) break;
      if (!this.isOp(sep, ',')) this.unexpected(sep, `',' or ']' in the list opened on line ${open.line}`);
    }
    this.open.pop();
    this.depth--;
    childLines.set(items, lines);
    return items;
  }

  /** `(x)` is just x; `()`, `(x,)` and `(x, y)` are tuples, which callers see as lists. */
  private parens(open: Tok): Val {
    this.enter(open);
    this.open.push(open);
    const done = <T>(v: T): T => {
      this.open.pop();
      this.depth--;
      return v;
    };
    if (this.isOp(this.lx.peek(), ')')) {
      this.lx.next();
      return done([]);
    }
    const first = this.lx.peek();
    const value = this.expr();
    const sep = this.lx.next();
    if (this.isOp(sep, ')')) return done(value);
    if (!this.isOp(sep, ',')) this.unexpected(sep, `',' or ')' in the parenthesis opened on line ${open.line}`);
    const items: PyValue[] = [this.store(value, first)];
    const lines = [first.line];
    for (;;) {
      const tok = this.lx.peek();
      if (this.isOp(tok, ')')) {
        this.lx.next();
        break;
      }
      this.path.push(items.length);
      lines.push(tok.line);
      items.push(this.store(this.expr(), tok));
      this.path.pop();
      const next = this.lx.next();
      if (this.isOp(next, ')')) break;
      if (!this.isOp(next, ',')) this.unexpected(next, `',' or ')' in the tuple opened on line ${open.line}`);
    }
    childLines.set(items, lines);
    return done(items);
  }

  private dict(open: Tok): PyDict {
    this.enter(open);
    this.open.push(open);
    // No prototype: a '__proto__' or 'constructor' key is just a key.
    const dict = Object.create(null) as PyDict;
    const lines = new Map<string, number>();
    for (;;) {
      const keyTok = this.lx.peek();
      if (this.isOp(keyTok, '}')) {
        this.lx.next();
        break;
      }
      if (this.isOp(keyTok, '**')) this.failAt(keyTok, `unpacking is not allowed: ${LITERALS_HINT}`);
      const key = this.expr();
      const colon = this.lx.next();
      if (this.isOp(colon, ',') || this.isOp(colon, '}')) this.failAt(colon, "sets are not supported: a dict needs `'key': value` pairs");
      if (!this.isOp(colon, ':')) this.unexpected(colon, `':' after a dict key`);
      if (typeof key !== 'string') this.failAt(keyTok, `dict keys must be strings, got ${typeName(key)}`);
      if (Object.hasOwn(dict, key)) this.failAt(keyTok, `duplicate key '${key}' in the dict opened on line ${open.line}`);
      this.path.push(key);
      const valueTok = this.lx.peek();
      lines.set(key, keyTok.line);
      dict[key] = this.store(this.expr(), valueTok);
      this.path.pop();
      const sep = this.lx.next();
      if (this.isOp(sep, '}')) break;
      if (!this.isOp(sep, ',')) this.unexpected(sep, `',' or '}' in the dict opened on line ${open.line}`);
    }
    this.open.pop();
    this.depth--;
    childLines.set(dict, lines);
    return dict;
  }
}

/**
 * Reads a file of `name = literal` assignments into a map from name to value and line.
 * Throws SfError('BAD_CONFIG') naming the file, line, column and key for anything else.
 */
export function parsePyLiteralFile(text: string, fileName: string): Map<string, PyAssignment> {
  // text.length counts UTF-16 units, never more than the UTF-8 bytes: only short texts need the exact count.
  const bytes = text.length > PY_LIMITS.maxFileBytes ? text.length : Buffer.byteLength(text, 'utf8');
  if (bytes > PY_LIMITS.maxFileBytes) {
    throw new SfError('BAD_CONFIG', `${fileName}: the file is ${bytes} bytes; config files may be at most 1 MiB`);
  }
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  return new Parser(src, fileName).parseFile();
}
