// Runs a compiled example (dist/examples/*.js) as a child process, the way a
// user would, and lets a test wait for the lines it prints.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const examplesDir = path.join(__dirname, '..', 'examples');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ExampleProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  #waiters = new Set<() => void>();
  #done = false;

  /** Starts `node dist/examples/<name>.js args...`, in namespace `netns` when given (ip netns exec). */
  constructor(name: string, args: string[] = [], options: { netns?: string; eval?: boolean; program?: boolean } = {}) {
    const command =
      options.program === true
        ? [name, ...args]
        : [process.execPath, ...(options.eval === true ? ['-e', name, '--'] : [path.join(examplesDir, `${name}.js`)]), ...args];
    // ip netns exec execs the command: the child's pid is node's, so signals reach the example.
    const argv = options.netns === undefined ? command : ['ip', 'netns', 'exec', options.netns, ...command];
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => this.#append('stdout', d));
    this.child.stderr?.on('data', (d: Buffer) => this.#append('stderr', d));
    // 'close', not 'exit': it comes after the last output has been read from the pipes.
    this.exited = (once(this.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).then(([code, signal]) => {
      this.#done = true;
      this.#wake();
      return { code, signal };
    });
  }

  /** Runs `node -e code -- args...` (a helper program for a test), in `netns` when given. */
  static script(code: string, args: string[] = [], options: { netns?: string } = {}): ExampleProcess {
    return new ExampleProcess(code, args, { ...options, eval: true });
  }

  /** Runs another program (`env`, a daemon the test talks to), in `netns` when given. */
  static program(file: string, args: string[] = [], options: { netns?: string } = {}): ExampleProcess {
    return new ExampleProcess(file, args, { ...options, program: true });
  }

  #append(stream: 'stdout' | 'stderr', data: Buffer): void {
    this[stream] += data.toString();
    this.#wake();
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
  }

  /** Resolves with the first match of `pattern` in stdout; fails on exit or after timeoutMs. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(this.stdout);
        if (match !== null) return done(() => resolve(match));
        if (this.#done) {
          return done(() => reject(new Error(`exited before printing ${pattern}\n${this.transcript()}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no ${pattern} after ${timeoutMs} ms\n${this.transcript()}`))),
        timeoutMs,
      );
      const done = (then: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        then();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 30_000): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills it if it is still running (for finally blocks). */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Asserts that SIGINT makes it close its device (it prints "Closed <name>") and exit 0. */
  async assertStopsCleanlyOnSigint(deviceName: string): Promise<void> {
    const exit = await this.stop('SIGINT');
    assert.deepEqual(exit, { code: 0, signal: null }, this.transcript());
    assert.match(this.stdout, new RegExp(`^Closed ${deviceName}$`, 'm'));
  }

  transcript(): string {
    return `--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}`;
  }
}

/** A script for ExampleProcess.script: receives one TCP connection on argv[1]:7000, prints the byte count and SHA-256 of what came. */
export const TCP_SINK = `
const s = require('net').createServer((c) => {
  const h = require('crypto').createHash('sha256'); let n = 0;
  c.on('data', (d) => { h.update(d); n += d.length; });
  c.on('end', () => { console.log('received ' + n + ' ' + h.digest('hex')); s.close(); });
});
s.listen(7000, process.argv[1], () => console.log('listening'));`;

/** Lines of `text` that match `pattern`. */
export function linesMatching(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((line) => pattern.test(line));
}
