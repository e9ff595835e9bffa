// Runs the fuzzer (fuzz-targets.ts) in a worker thread watched from the
// calling thread: a target stuck in an endless loop cannot be stopped from
// its own thread, so the watcher reads the worker's progress from shared
// memory and, when it stops moving, names the input and terminates it.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fuzzOne, type FuzzFailure } from './fuzz-targets';

export interface FuzzReport {
  seed: number;
  iterations: number;
  failures: FuzzFailure[];
  /** Set when an input ran longer than the stall limit: the worker was stopped there. */
  stuck?: { iteration: number; ms: number };
  elapsedMs: number;
}

interface Job {
  seed: number;
  count: number;
  maxFailures: number;
  progress: SharedArrayBuffer;
}

/** Fuzzes `count` iterations of run `seed`; resolves with what was found. */
export async function fuzz(
  seed: number,
  count: number,
  options: { stallMs?: number; maxFailures?: number } = {},
): Promise<FuzzReport> {
  const stallMs = options.stallMs ?? 60_000;
  const progress = new SharedArrayBuffer(8);
  const done = new Int32Array(progress);
  const started = performance.now();
  const failures: FuzzFailure[] = [];
  const job: Job = { seed, count, maxFailures: options.maxFailures ?? 20, progress };
  const worker = new Worker(__filename, { workerData: { fuzz: job } });
  worker.on('message', (failure: FuzzFailure) => failures.push(failure));
  let stuck: FuzzReport['stuck'];
  let last = -1;
  let lastMoved = performance.now();
  const watchdog = setInterval(
    () => {
      const now = Atomics.load(done, 0);
      if (now !== last) {
        last = now;
        lastMoved = performance.now();
      } else if (performance.now() - lastMoved > stallMs) {
        stuck = { iteration: now, ms: performance.now() - lastMoved };
        void worker.terminate();
      }
    },
    Math.min(500, stallMs / 4),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', () => resolve());
    });
  } finally {
    clearInterval(watchdog);
  }
  const report: FuzzReport = { seed, iterations: Atomics.load(done, 0), failures, elapsedMs: performance.now() - started };
  if (stuck !== undefined) report.stuck = stuck;
  return report;
}

if (!isMainThread && (workerData as { fuzz?: Job } | null)?.fuzz !== undefined) {
  const job = (workerData as { fuzz: Job }).fuzz;
  const done = new Int32Array(job.progress);
  let found = 0;
  for (let i = 0; i < job.count && found < job.maxFailures; i++) {
    const failure = fuzzOne(job.seed, i);
    if (failure !== undefined) {
      found += 1;
      parentPort?.postMessage(failure);
    }
    Atomics.store(done, 0, i + 1);
  }
}
