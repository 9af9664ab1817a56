// One self-rewriting stderr line for a long wait: a spinner, the time waited and what is awaited. Silent
// unless stderr is a terminal and the output is for people, so pipes, logs and --json see nothing of it.

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK_MS = 100;
/** How often a `watch` probe asks sfmd what it is waiting for: often enough to feel live, cheap for sfmd. */
const PROBE_MS = 1000;

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  /** Whether anything is drawn at all (a TTY, output for people). */
  readonly live: boolean;
  /** What is awaited now, e.g. "waiting for 3 of 8 clones". */
  set(text: string): void;
  /** Runs `print` (other output to the same terminal) with the line out of its way; redrawn on the next tick. */
  aside(print: () => void): void;
  /** Erases the line and stops drawing. */
  stop(): void;
}

export function elapsedText(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const SILENT: Progress = { live: false, set() {}, aside: (print) => print(), stop() {} };

export function startProgress(
  text: string,
  options: { machine: boolean; stream?: ProgressStream; now?: () => number } = { machine: false },
): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.machine || !stream.isTTY) return SILENT;
  const now = options.now ?? Date.now;
  const started = now();
  let what = text;
  let frame = 0;
  let drawn = false;
  const draw = () => {
    const line = `${FRAMES[frame++ % FRAMES.length]} ${what} (${elapsedText(now() - started)})`;
    // Longer than the terminal, the line would wrap and \r would rewrite only its last row. A terminal
    // that does not say its size (script(1), some consoles) reports 0 columns: assume 80.
    const width = Math.max(10, (stream.columns || 80) - 1);
    stream.write(`\r\x1b[K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  const timer = setInterval(draw, TICK_MS);
  timer.unref(); // a finished command must not wait for its spinner
  draw();
  return {
    live: true,
    set(next) {
      what = next;
    },
    aside(print) {
      clear();
      print();
    },
    stop() {
      clearInterval(timer);
      clear();
    },
  };
}

/**
 * Shows `text` while `work` runs; `probe`, when given, is asked now and then what is awaited (its failures
 * are ignored: the wait itself says what went wrong). The line is gone when `work` settles.
 */
export async function withProgress<T>(
  machine: boolean,
  text: string,
  work: Promise<T>,
  probe?: () => Promise<string | null>,
  stream?: ProgressStream,
): Promise<T> {
  const progress = startProgress(text, { machine, ...(stream ? { stream } : {}) });
  let probing: ReturnType<typeof setInterval> | null = null;
  if (progress.live && probe) {
    let busy = false;
    probing = setInterval(() => {
      if (busy) return;
      busy = true;
      probe()
        .then((next) => next && progress.set(next))
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    }, PROBE_MS);
    probing.unref();
  }
  try {
    return await work;
  } finally {
    if (probing) clearInterval(probing);
    progress.stop();
  }
}
