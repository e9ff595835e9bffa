// A child process whose main thread starts workers (worker-body.ts), one
// after the other, and terminates them or lets them end; it reports fds and
// RSS at the start and at the end. Unless --main-loads is given, the main
// thread never loads the addon: a worker's environment is then the only one
// that has it, and it is unloaded when the worker ends.
//
//   node workers.js <flood|self-exit|busy|watch> <rounds> [--main-loads] [--reader-thread]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { report } from '../fault-helpers';
import { openFdCount, rssBytes } from '../helpers';
import type { WorkerJob } from './worker-body';

const [kind, roundsArg, ...flags] = process.argv.slice(2) as [WorkerJob['kind'], string, ...string[]];
const rounds = Number(roundsArg);
const mainLoads = flags.includes('--main-loads');
const BODY = path.join(__dirname, 'worker-body.js');
const tag = (process.pid % 10000).toString(36);
const failures: string[] = [];

/** Where a worker got to: its message, a failure it reported, an error, or its exit. */
type Outcome = { message: unknown } | { exit: number } | { error: string } | { timeout: true };

function next(worker: Worker, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done({ timeout: true }), timeoutMs);
    const onMessage = (message: unknown): void => done({ message });
    const onExit = (exit: number): void => done({ exit });
    const onError = (error: Error): void => done({ error: String(error.stack ?? error) });
    const done = (outcome: Outcome): void => {
      clearTimeout(timer);
      worker.off('message', onMessage).off('exit', onExit).off('error', onError);
      resolve(outcome);
    };
    worker.on('message', onMessage).on('exit', onExit).on('error', onError);
  });
}

/**
 * Adds and removes 1,000 addresses on `device` with `ip -batch`, again and
 * again, until stop() (bounded by `until` anyway).
 */
function addressFlood(device: string, until: number): { stop: () => Promise<void> } {
  let stopped = false;
  const lines: string[] = [];
  for (let i = 1; i <= 1000; i++) lines.push(`address add 10.251.${i >> 8}.${i & 255}/32 dev ${device}`);
  const batch = `${lines.join('\n')}\naddress flush dev ${device}\n`;
  const loop = (async () => {
    while (!stopped && Date.now() < until) {
      const ip = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
      ip.stdin.end(batch);
      // 'close': the stdin pipe is released too, so the fd count at the end is not off by one.
      await once(ip, 'close');
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function round(i: number): Promise<void> {
  const job: WorkerJob = {
    kind,
    name: `fw${tag}x${i}`,
    subnet: `10.${200 + (process.pid % 50)}.${i % 250}`,
    end: i % 2 === 0 ? 'process.exit' : 'natural',
    readerThread: flags.includes('--reader-thread'),
  };
  const worker = new Worker(BODY, { workerData: job });
  const exited = once(worker, 'exit').catch(() => [-1]);
  const first = await next(worker, 30_000);
  if (kind === 'self-exit') {
    const [code] =
      'exit' in first ? [first.exit] : ((await Promise.race([exited, next(worker, 30_000).then(() => ['none'])])) as [unknown]);
    if (code !== 0)
      failures.push(`round ${i} (${job.end}): worker ended with ${JSON.stringify(code)} after ${JSON.stringify(first)}`);
    if (code === 'none') await worker.terminate();
    return;
  }
  if (!('message' in first) || typeof first.message !== 'string') failures.push(`round ${i}: ${JSON.stringify(first)}`);
  await worker.terminate();
}

async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = mainLoads ? (require('../../lib') as typeof import('../../lib')) : undefined;
  // Warm-up rounds let the first worker's one-time allocations settle before the baseline.
  const warmUp = lib === undefined ? Math.min(10, rounds) : 0;
  for (let i = 0; i < warmUp; i++) await round(i);
  const fdsBefore = openFdCount();
  const rssBefore = rssBytes();
  const device = await lib?.TunDevice.open({ name: `fm${tag}` });
  const flood = device !== undefined && kind === 'watch' ? addressFlood(device.name, Date.now() + 60_000) : undefined;
  for (let i = warmUp; i < rounds && failures.length < 5; i++) await round(i);
  await flood?.stop();
  await device?.close();
  report({ rounds, fdsBefore, fdsAfter: openFdCount(), rssBefore, rssAfter: rssBytes(), failures });
}

void main();
