// A domain's serial console driven the way `sf console` drives it: subscribed through sfmd's dashboard
// namespace with the home's admin token, keystrokes sent as console:input. For tests of guests that talk.
import { connect, unwrap } from '../src/cli/commands/console.ts';
import { parseDomainRef } from '../src/common/domain-ref.ts';
import type { Result } from '../src/common/errors.ts';
import type { ConsoleReplay } from '../src/common/wire.ts';
import { createCommandContext, resolveToken } from '../src/cli/context.ts';

/** The console's text since it was opened (the replay first), with the CRs of CR LF removed. */
export class ConsoleSession {
  #text = '';
  readonly #waiters = new Set<() => void>();

  private constructor(
    private readonly socket: Awaited<ReturnType<typeof connect>>,
    private readonly address: { clusterid: number; vmid: number },
  ) {}

  /** Opens domain `name` (CLUSTER:VMID) of the Snowflock in `env`'s home. */
  static async open(env: NodeJS.ProcessEnv, name: string): Promise<ConsoleSession> {
    const ctx = createCommandContext({ home: env.SNOWFLOCK_HOME, json: true });
    const token = resolveToken(ctx.options, ctx.paths);
    if (!token) throw new Error(`no admin token in ${env.SNOWFLOCK_HOME}`);
    const address = parseDomainRef(name);
    const session = new ConsoleSession(await connect(ctx.url, token, ctx.trust), address);
    session.socket.on('domain:console', (chunk) => {
      if (chunk.clusterid === address.clusterid && chunk.vmid === address.vmid) session.#add(Buffer.from(chunk.data));
    });
    const { replay } = unwrap((await session.socket.timeout(30_000).emitWithAck('console:subscribe', address)) as Result<ConsoleReplay>);
    session.#add(Buffer.from(replay));
    return session;
  }

  get text(): string {
    return this.#text;
  }

  #add(data: Buffer): void {
    this.#text += data.toString('utf8').replaceAll('\r\n', '\n');
    for (const wake of this.#waiters) wake();
  }

  /** Sends keys as one input (as the dashboard sends what was typed in one batch). */
  async type(keys: string): Promise<void> {
    unwrap(
      (await this.socket.timeout(10_000).emitWithAck('console:input', { ...this.address, data: Buffer.from(keys) })) as Result<unknown>,
    );
  }

  /** Waits until the text from offset `from` on matches `re`; returns the match. */
  waitFor(re: RegExp, from = 0, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.#text.slice(from).match(re);
        if (!m) return;
        cleanup();
        resolve(m);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`console ${this.address.clusterid}:${this.address.vmid} never showed ${re} in:\n${this.#text.slice(from)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Types `line` and Enter at the prompt `[vm N] $ ` and waits for the next prompt; returns what the command
   * printed between its echoed line and that prompt (the clone's own console shows its own prompt).
   */
  async run(line: string, timeoutMs = 60_000): Promise<string> {
    const from = this.#text.length;
    await this.type(`${line}\r`);
    const m = await this.waitFor(/\n([\s\S]*?)\[vm \d+\] \$ $/, from, timeoutMs);
    return m[1]!;
  }

  close(): void {
    this.socket.close();
  }
}
