// Workers that end while they hold devices, watchers and netlink sockets: the
// process must not crash, and what the workers held must be released. Each
// case runs in a child process (test/fault-children/workers.ts), so that a
// crash shows as a signal or an abort there instead of killing the runner.
import assert from 'node:assert/strict';
import { assertCleanExit, childReport, faultTest, runChild, transcript } from './fault-helpers';

interface WorkersReport {
  rounds: number;
  fdsBefore: number;
  fdsAfter: number;
  rssBefore: number;
  rssAfter: number;
  failures: string[];
}

/**
 * Runs `rounds` workers of `kind` in a child and checks it exited cleanly,
 * every round went as planned, and the fds and RSS came back.
 */
async function workersRun(
  kind: string,
  rounds: number,
  mainLoads: boolean,
  timeoutMs: number,
  readerThread = false,
): Promise<WorkersReport> {
  const flags = [...(mainLoads ? ['--main-loads'] : []), ...(readerThread ? ['--reader-thread'] : [])];
  const run = await runChild('workers', [kind, String(rounds), ...flags], { timeoutMs });
  assertCleanExit(run);
  const r = childReport<WorkersReport>(run);
  assert.deepEqual(r.failures, [], transcript(run));
  assert.equal(r.fdsAfter, r.fdsBefore, 'every fd a worker opened is closed');
  // A worker's isolate, its device's read slab and socket buffers: a leak of
  // even a third of a MiB per worker over 200 workers crosses this bound.
  const grown = r.rssAfter - r.rssBefore;
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB over ${rounds} workers`);
  return r;
}

const FLOOD_ROUNDS = Number(process.env.TUNTAP_WORKER_ROUNDS ?? 200);

faultTest(
  `a worker reading a flood, terminated ${FLOOD_ROUNDS} times in a row, crashes nothing and leaves fds and RSS at the baseline (the main thread never loads the addon)`,
  async () => {
    await workersRun('flood', FLOOD_ROUNDS, false, 360_000);
  },
  { timeout: 400_000 },
);

faultTest(
  'a worker reading a flood on a reader thread (readerThread), terminated 60 times in a row, crashes nothing and leaves fds and RSS at the baseline',
  async () => {
    await workersRun('flood', 60, false, 180_000, true);
  },
  { timeout: 240_000 },
);

faultTest(
  'a worker that ends by itself while its device reads on a reader thread does not crash the process (the main thread never loads the addon)',
  async () => {
    await workersRun('self-exit', 12, false, 180_000, true);
  },
  { timeout: 240_000 },
);

faultTest(
  'a worker that ends by itself with a device, a watcher and a Netlink open does not crash the process (the main thread never loads the addon)',
  async () => {
    // Even rounds end with process.exit(), odd ones when their loop runs empty.
    await workersRun('self-exit', 12, false, 180_000);
  },
  { timeout: 240_000 },
);

faultTest(
  'terminating a worker while its JS is inside addon calls in a tight loop (dev.fd, writePackets) does not abort the process',
  async () => {
    // The main thread loads the addon too, so this case does not hit item 1.
    await workersRun('busy', 40, true, 180_000);
  },
  { timeout: 240_000 },
);

faultTest(
  'terminating a worker while a flood of address events reaches its watcher does not abort the process',
  async () => {
    await workersRun('watch', 60, true, 180_000);
  },
  { timeout: 240_000 },
);

interface TerminateOpenReport {
  rounds: number;
  openMs: number;
  /** Rounds whose worker ended with an open called and its result not yet in JS. */
  midOpen: number;
  /** Rounds whose worker had every result before it ended. */
  settled: number;
  fdsBefore: number;
  fdsAfter: number;
  reopenFailures: string[];
  failures: string[];
}

faultTest(
  'workers terminated while TunDevice.open(), Netlink.open() and Netlink.watch() are in flight leak no fd, and every device name opens again',
  async () => {
    const run = await runChild('terminate-open', ['120'], { timeoutMs: 150_000 });
    assertCleanExit(run);
    const r = childReport<TerminateOpenReport>(run);
    assert.deepEqual(r.failures, [], transcript(run));
    // The terminations landed all over the opens: some before JS had the results, some after.
    assert.ok(r.midOpen > 0, `no termination landed mid-open: ${JSON.stringify(r)}`);
    assert.ok(r.settled > 0, `every termination landed mid-open: ${JSON.stringify(r)}`);
    assert.deepEqual(r.reopenFailures, [], 'a queue fd outlived its worker and holds its device');
    assert.equal(r.fdsAfter, r.fdsBefore, 'every fd the workers opened is closed');
  },
  { timeout: 180_000 },
);
