// rx on a multi-queue device, one queue per worker thread, the way a user
// spreads packet work over cores (docs/guide/offloads-and-multiqueue.md,
// "Multi-queue"). Same protocol as `tunref mq` (bench/c/tunref.c):
//   node queues-worker.js API DEV QUEUES
// prints "ready" once every queue is open, then on stdin:
//   go N    read until the queues together have N more packets, pause, and
//           print {packets, seconds, cpu, runDelay, perQueue}: a drain (bench/run.ts)
//   run     read with no target (a flood)
//   mark    print the running totals {packets, seconds, cpu, runDelay, perQueue}
// API is 'stream' (readable) or 'batch' (readBatches with reuseSlab). CPU is
// the process's, every thread's.
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { TunDevice } from '../lib';

type Api = 'stream' | 'batch';

/** Shared counters: [0] the total, [1] the total that ends a drain (0: none), [2 + q] queue q's. */
const TOTAL = 0;
const TARGET = 1;

interface ThreadData {
  api: Api;
  name: string;
  queue: number;
  counters: SharedArrayBuffer;
}

type ToThread = { cmd: 'resume' } | { cmd: 'pause' };
type FromThread = { kind: 'open' } | { kind: 'paused' } | { kind: 'done'; at: number };

/** Seconds this process's threads together have waited for a CPU that other load held (schedstat's second field). */
function runDelay(): number {
  let ns = 0;
  for (const task of readdirSync('/proc/self/task')) {
    try {
      ns += Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ns / 1e9;
}

/** performance.now() of different threads do not share an origin; this does. */
const now = (): number => performance.timeOrigin + performance.now();

async function thread(data: ThreadData): Promise<void> {
  const counters = new Int32Array(data.counters);
  const dev = await TunDevice.open({ name: data.name, multiQueue: true });
  const post = (m: FromThread): void => parentPort!.postMessage(m);
  let pending = 0;
  let flushDue = false;
  // Once per batch, not per packet: the counter's cache line moves between cores.
  const flush = (): void => {
    flushDue = false;
    const n = pending;
    pending = 0;
    Atomics.add(counters, 2 + data.queue, n);
    const total = Atomics.add(counters, TOTAL, n) + n;
    const target = Atomics.load(counters, TARGET);
    if (target !== 0 && total >= target && total - n < target) post({ kind: 'done', at: now() });
  };
  const onPacket = (p: Buffer): void => {
    if (p.length > 0) pending++;
    if (!flushDue) {
      flushDue = true;
      queueMicrotask(flush);
    }
  };
  const onBatch = (_slab: Buffer, _d: Uint32Array, count: number): void => {
    pending += count;
    flush();
  };
  parentPort!.on('message', (m: ToThread) => {
    if (m.cmd === 'resume') {
      if (data.api === 'batch') dev.readBatches(onBatch, { reuseSlab: true });
      else if (dev.readable.listenerCount('data') === 0) dev.readable.on('data', onPacket);
      else dev.readable.resume();
    } else {
      if (data.api === 'batch') dev.pauseBatches();
      else dev.readable.pause();
      post({ kind: 'paused' });
    }
  });
  post({ kind: 'open' });
}

async function main(argv: string[]): Promise<void> {
  const [api, name, queuesArg] = argv as [Api, string, string];
  const queues = Number(queuesArg);
  const counters = new Int32Array(new SharedArrayBuffer(4 * (2 + queues)));
  const threads: Worker[] = [];
  const messages: FromThread[] = [];
  let wake: (() => void) | undefined;
  const next = async (kind: FromThread['kind']): Promise<FromThread> => {
    for (;;) {
      const i = messages.findIndex((m) => m.kind === kind);
      if (i >= 0) return messages.splice(i, 1)[0];
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  for (let queue = 0; queue < queues; queue++) {
    const data: ThreadData = { api, name, queue, counters: counters.buffer as SharedArrayBuffer };
    const w = new Worker(__filename, { workerData: data });
    w.on('message', (m: FromThread) => {
      messages.push(m);
      wake?.();
    });
    w.on('error', (error) => {
      console.error(error);
      process.exit(1);
    });
    threads.push(w);
  }
  for (let i = 0; i < queues; i++) await next('open');
  const send = (m: ToThread): void => threads.forEach((w) => w.postMessage(m));
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const perQueue = (): number[] => Array.from(counters.subarray(2));
  const report = (o: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify({ mode: 'mq', api, queues, ...o })}\n`);
  };
  const start = { at: now(), cpu: cpu(), delay: runDelay(), total: 0 };
  const lines = createInterface({ input: process.stdin });
  // One command at a time: a drain's reply comes before the next line is read.
  let busy = Promise.resolve();
  lines.on('line', (line) => {
    busy = busy.then(async () => {
      const go = /^go (\d+)$/u.exec(line);
      if (go !== null) {
        const base = Atomics.load(counters, TOTAL);
        const want = Number(go[1]);
        Atomics.store(counters, TARGET, base + want);
        const c0 = cpu();
        const d0 = runDelay();
        const t0 = now();
        send({ cmd: 'resume' });
        const done = (await next('done')) as { kind: 'done'; at: number };
        const c1 = cpu();
        const d1 = runDelay();
        Atomics.store(counters, TARGET, 0);
        send({ cmd: 'pause' });
        for (let i = 0; i < queues; i++) await next('paused');
        report({
          packets: Atomics.load(counters, TOTAL) - base,
          seconds: (done.at - t0) / 1000,
          cpu: c1 - c0,
          runDelay: d1 - d0,
          perQueue: perQueue(),
        });
      } else if (line === 'run') {
        Object.assign(start, { at: now(), cpu: cpu(), delay: runDelay(), total: Atomics.load(counters, TOTAL) });
        send({ cmd: 'resume' });
      } else if (line === 'mark') {
        report({
          packets: Atomics.load(counters, TOTAL) - start.total,
          seconds: (now() - start.at) / 1000,
          cpu: cpu() - start.cpu,
          runDelay: runDelay() - start.delay,
          perQueue: perQueue(),
        });
      }
    });
  });
  lines.once('close', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('ready\n');
}

if (isMainThread) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  thread(workerData as ThreadData).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
