// Shared by the fault, sequence and accounting tests: child programs run
// under a deadline (a crash then shows as a signal, a hang as a timeout, and
// neither takes the test runner down), a seeded PRNG, and a wrapper for tests
// that wait on a fix. The child programs are in test/fault-children/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { privilegedTest } from './helpers';
import { referenceChecksum } from './packet-builders';

/** The compiled child programs (dist/test/fault-children/*.js). */
const CHILDREN = path.join(__dirname, 'fault-children');

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed (SIGKILL) at the deadline: it hung. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/test/fault-children/<program>.js args...` to its end, and
 * SIGKILLs it after timeoutMs. `env` is added to this process's environment.
 */
export async function runChild(
  program: string,
  args: string[] = [],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ChildRun> {
  const child = spawn(process.execPath, [path.join(CHILDREN, `${program}.js`), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 30_000);
  // 'close', not 'exit': it comes after the last output has been read from the pipes.
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, timedOut, stdout, stderr };
}

/** What a child printed, for assertion messages (the tail: a crash report is at the end). */
export function transcript(run: ChildRun): string {
  const tail = (s: string): string => (s.length > 4000 ? `...${s.slice(-4000)}` : s);
  return `exit code ${run.code}, signal ${run.signal}${run.timedOut ? ' (killed at the deadline: it hung)' : ''}\n--- stdout ---\n${tail(run.stdout)}\n--- stderr ---\n${tail(run.stderr)}`;
}

/** Asserts the child ended by itself with code 0: no signal (a crash), no deadline (a hang). */
export function assertCleanExit(run: ChildRun): void {
  assert.ok(!run.timedOut && run.signal === null && run.code === 0, transcript(run));
}

/** The last line of the child's stdout that is a JSON object: its report. */
export function childReport<T>(run: ChildRun): T {
  const line = run.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  assert.ok(line !== undefined, `the child printed no report\n${transcript(run)}`);
  return JSON.parse(line) as T;
}

/** For a child program: prints its report as one JSON line (what childReport() reads). */
export function report(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * A privileged test that fails until a fix lands: node:test reports its
 * failure as TODO, so the suite stays green. `todo` names the issue item;
 * remove it (the test then counts) once the fix is in.
 */
export function faultTest(
  name: string,
  fn: (t: TestContext) => Promise<void>,
  options: { timeout?: number; todo?: string } = {},
): void {
  const { todo } = options;
  privilegedTest(
    name,
    todo === undefined
      ? fn
      : async (t) => {
          t.todo(todo);
          await fn(t);
        },
    { timeout: options.timeout },
  );
}

/** An ICMP echo request (IPv4, 32 bytes of payload), which the stack that receives it answers. */
export function echoRequest(source: string, destination: string, sequence: number): Buffer {
  const p = Buffer.alloc(60);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64; // TTL
  p[9] = 1; // ICMP
  p.set(source.split('.').map(Number), 12);
  p.set(destination.split('.').map(Number), 16);
  p.writeUInt16BE(referenceChecksum([p.subarray(0, 20)]), 10);
  p[20] = 8; // echo request
  p.writeUInt16BE(sequence & 0xffff, 26);
  p.writeUInt16BE(referenceChecksum([p.subarray(20)]), 22);
  return p;
}

export { SeededRandom } from './seeded-random';
