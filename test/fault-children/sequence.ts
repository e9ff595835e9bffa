// Random sequences of operations on single- and multi-queue devices, each
// sequence from its own seed (seed, seed + 1, ...), each step under a
// deadline. Reports what went wrong with the seed and step that did it:
// an error the API does not document, an uncaught error, a step or a close
// that did not settle, a write whose callback did not fire exactly once, an
// fd left open.
//
//   node sequence.js <first seed> <count> <listeners|bare>
//
// 'listeners': 'error' listeners on the device and on both streams, as a
// careful user has them. 'bare': on the device only (its fatal errors are
// part of the API); the streams have none.
import { TunDevice } from '../../lib';
import { SeededRandom, echoRequest, report } from '../fault-helpers';
import { openFdCount, rssBytes } from '../helpers';

const [firstSeed, count, mode] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const STEP_MS = 30_000;
const MAX_FAILURES = 5;

interface Failure {
  seed: number;
  step: number;
  op: string;
  what: string;
}

const failures: Failure[] = [];
/** What the sequences did, so the parent can tell they exercised something. */
const tally = { read: 0, written: 0, errors: {} as Record<string, number> };
/** Where we are, for errors that arrive on their own (uncaught). */
const at = { seed: 0, step: -1, op: 'open' };

function fail(what: string): void {
  failures.push({ seed: at.seed, step: at.step, op: at.op, what });
}

process.on('uncaughtException', (error) => fail(`uncaught: ${String(error.stack ?? error)}`));
process.on('unhandledRejection', (error) => fail(`unhandled rejection: ${String((error as Error)?.stack ?? error)}`));

/** An error the API documents: a TunError (errno code) or a Node-style ERR_* code. */
function documented(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return error instanceof Error && typeof code === 'string' && /^(E[A-Z0-9]+|ERR_[A-Z0-9_]+)$/.test(code);
}

class Timeout extends Error {}

/** Runs one step: documented errors are fine, anything else (or no settling within STEP_MS) is a failure. */
async function step(run: () => unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(run),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Timeout(`did not settle within ${STEP_MS} ms`)), STEP_MS);
      }),
    ]);
  } catch (error) {
    if (error instanceof Timeout) fail(error.message);
    else if (!documented(error)) fail(`undocumented error: ${String((error as Error)?.stack ?? error)}`);
    else {
      const code = (error as NodeJS.ErrnoException).code!;
      tally.errors[code] = (tally.errors[code] ?? 0) + 1;
    }
  } finally {
    clearTimeout(timer);
  }
}

interface Queue {
  dev: TunDevice;
  /** Write callbacks per write issued on this queue. */
  callbacks: number[];
}

const OPS = [
  'open',
  'write',
  'writePackets',
  'read',
  'pause',
  'resume',
  'readBatches',
  'pauseBatches',
  'resumeBatches',
  'whenWritable',
  'close',
  'destroy',
  'detachQueue',
  'attachQueue',
  'up',
  'down',
  'addAddress',
  'linkListener',
  'wait',
] as const;
type Op = (typeof OPS)[number];
// Ending ops are rarer, and traffic ops more common, so most steps act on an open device that moves packets.
const WEIGHTED: Op[] = OPS.flatMap((op) => {
  const weight = op === 'close' || op === 'destroy' ? 1 : op === 'write' || op === 'wait' || op === 'read' ? 4 : 2;
  return Array<Op>(weight).fill(op);
});

async function sequence(seed: number): Promise<void> {
  const rng = new SeededRandom(seed);
  const multiQueue = rng.next() < 0.5;
  const name = `sq${(process.pid % 10000).toString(36)}x${seed % 100000}`;
  const subnet = `10.${240 + (seed % 8)}.${(seed >> 3) % 250}`;
  const queues: Queue[] = [];
  const open = async (): Promise<void> => {
    const dev = await TunDevice.open({ name, multiQueue, maxBatch: 1 + rng.int(64), readableHighWaterMark: 1 + rng.int(64) });
    dev.on('error', () => {});
    if (mode === 'listeners') {
      dev.readable.on('error', () => {});
      dev.writable.on('error', () => {});
    }
    queues.push({ dev, callbacks: [] });
  };
  at.step = -1;
  at.op = 'open';
  await step(open);
  if (rng.next() < 0.7) {
    // Mostly up and addressed from the start: the echo requests written then come back as replies to read.
    at.op = 'address and up';
    await step(async () => {
      await queues[0]?.dev.addAddress(`${subnet}.1/24`);
      await queues[0]?.dev.up();
    });
  }
  const steps = 4 + rng.int(16);
  for (let i = 0; i < steps && failures.length < MAX_FAILURES; i++) {
    const op: Op = rng.pick(WEIGHTED);
    const q = queues.length > 0 ? rng.pick(queues) : undefined;
    at.step = i;
    at.op = op;
    if (q === undefined && op !== 'open') continue;
    await step(() => perform(op, q!, rng, { open, queues, multiQueue, subnet }));
  }
  // The end of every sequence: everything closes and every write is called back once.
  at.step = steps;
  at.op = 'close all';
  for (const { dev } of queues) await step(() => dev.close());
  await new Promise((resolve) => setImmediate(resolve));
  for (const [n, { callbacks }] of queues.entries()) {
    const wrong = callbacks.findIndex((c) => c !== 1);
    if (wrong >= 0) fail(`queue ${n}: write ${wrong} of ${callbacks.length} was called back ${callbacks[wrong]} times`);
  }
}

interface Context {
  open: () => Promise<void>;
  queues: Queue[];
  multiQueue: boolean;
  subnet: string;
}

async function perform(op: Op, q: Queue, rng: SeededRandom, c: Context): Promise<void> {
  const { dev } = q;
  const local = `${c.subnet}.1`;
  switch (op) {
    case 'open':
      // Another queue of a multi-queue device, or a fresh device once the last one closed.
      if ((c.multiQueue && c.queues.length < 3) || c.queues.every((x) => x.dev.closed)) await c.open();
      return;
    case 'write': {
      const n = 1 + rng.int(64);
      for (let i = 0; i < n; i++) {
        const k = q.callbacks.push(0) - 1;
        dev.writable.write(echoRequest(`${c.subnet}.2`, local, k), (error) => {
          q.callbacks[k]++;
          if (error == null) tally.written++;
        });
      }
      return;
    }
    case 'writePackets': {
      const n = 1 + rng.int(16);
      const slab = Buffer.concat(Array.from({ length: n }, (_, i) => echoRequest(`${c.subnet}.2`, local, i)));
      const d = new Uint32Array(2 * n);
      for (let i = 0; i < n; i++) d.set([i * 60, 60], 2 * i);
      tally.written += dev.writePackets(slab, d, n);
      return;
    }
    case 'read':
      dev.readable.on('data', () => tally.read++);
      return;
    case 'pause':
      dev.readable.pause();
      return;
    case 'resume':
      dev.readable.resume();
      return;
    case 'readBatches':
      dev.readBatches(
        (_slab, _d, n) => {
          tally.read += n;
          // Now and then a handler pauses by returning false (without drawing from rng: replays stay exact).
          return tally.read % 5 === 0 ? false : undefined;
        },
        { reuseSlab: rng.next() < 0.5 },
      );
      return;
    case 'pauseBatches':
      dev.pauseBatches();
      return;
    case 'resumeBatches':
      dev.resumeBatches();
      return;
    case 'whenWritable':
      // Not awaited: on a down link it waits for up; a close must reject it with a documented error.
      dev.whenWritable().catch((error: unknown) => {
        if (!documented(error)) fail(`whenWritable: ${String(error)}`);
      });
      return;
    case 'close':
      // Awaited half the time; else it runs on while the sequence goes on.
      if (rng.next() < 0.5) await dev.close();
      else void dev.close();
      return;
    case 'destroy':
      dev.destroy();
      return;
    case 'detachQueue':
      await dev.detachQueue();
      return;
    case 'attachQueue':
      await dev.attachQueue();
      return;
    case 'up':
      await dev.up();
      return;
    case 'down':
      await dev.down();
      return;
    case 'addAddress':
      await dev.addAddress(rng.next() < 0.5 ? `${local}/24` : `${c.subnet}.${2 + rng.int(200)}/32`);
      return;
    case 'linkListener':
      dev.on(rng.pick(['linkChange', 'up', 'down', 'addressAdded', 'addressRemoved'] as const), () => {});
      return;
    case 'wait':
      await new Promise((resolve) => setTimeout(resolve, rng.int(5)));
      return;
  }
}

async function main(): Promise<void> {
  const warmUp = Math.min(20, count);
  let fdsBefore = 0;
  let rssBefore = 0;
  for (let i = 0; i < count && failures.length < MAX_FAILURES; i++) {
    if (i === warmUp) {
      fdsBefore = openFdCount();
      rssBefore = rssBytes();
    }
    at.seed = firstSeed + i;
    // For a crash, which kills the process before it can report: the last seed printed is the culprit.
    process.stdout.write(`seed ${at.seed}\n`);
    const fds = openFdCount();
    await sequence(at.seed);
    // A closed queue's fd is closed in a libuv close callback or on the thread
    // pool, which a loaded machine may run late: wait up to STEP_MS for it.
    for (let t = 0; t < STEP_MS / 10 && openFdCount() !== fds; t++) await new Promise((resolve) => setTimeout(resolve, 10));
    if (openFdCount() !== fds) fail(`${openFdCount() - fds} fds more after the sequence than before`);
  }
  report({ sequences: count, failures, ...tally, fdsBefore, fdsAfter: openFdCount(), rssBefore, rssAfter: rssBytes() });
  // After a failure a device may still be open (a close that hung): the report says why, no need to wait.
  // Without one, the process must end by itself: anything left holding the loop shows as a hang.
  if (failures.length > 0) process.exit(0);
}

void main();
