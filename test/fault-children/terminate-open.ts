// Workers terminated while their TunDevice.open(), Netlink.open() and
// Netlink.watch() calls are in flight: around the moment the results reach
// JS, some before the thread pool is done, some after JS has them. The main thread then
// checks the fds came back, and that no device outlived its worker (a
// leaked queue fd keeps its device, and a second open fails with EBUSY).
//
//   node terminate-open.js <rounds>
// Reports { rounds, midOpen, settled, fdsBefore, fdsAfter, reopenFailures, failures }.
import { once } from 'node:events';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Netlink, TunDevice } from '../../lib';
import { report } from '../fault-helpers';
import { ipJson, openFdCount } from '../helpers';

/** What each worker is told: its device names, and where it marks how far each open got. */
interface Job {
  names: string[];
  /** Per open (the devices', then two Netlinks'): 1 once called, 2 once JS has its result. */
  state: Int32Array;
}

/** The worker: loads the addon, says so, and starts every open at once. */
async function body(job: Job): Promise<void> {
  (await Netlink.open()).close();
  parentPort!.postMessage('ready');
  const mark = (i: number, p: Promise<unknown>): void => {
    Atomics.store(job.state, i, 1);
    void p.then(() => Atomics.store(job.state, i, 2));
  };
  // Half with offloads: TUNSETOFFLOAD runs on the JS thread between the open's
  // result and the handle, and waits for the rtnl lock the other opens hold.
  job.names.forEach((name, i) => mark(i, TunDevice.open({ name, offload: i % 2 === 0 })));
  mark(job.names.length, Netlink.open());
  mark(job.names.length + 1, Netlink.watch());
}

const DEVICES = 8;

/** A busy wait (the event loop of this thread does nothing meanwhile, which is the point). */
function spinMs(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function main(rounds: number): Promise<void> {
  const tag = (process.pid % 10000).toString(36);
  const failures: string[] = [];
  // How long an open takes here: where the delays start.
  const t0 = performance.now();
  await (await TunDevice.open({ name: `to${tag}w` })).close();
  const openMs = performance.now() - t0;
  const names: string[] = [];
  let midOpen = 0;
  let settled = 0;
  const round = async (r: number, delayMs: number): Promise<boolean> => {
    const job: Job = {
      names: Array.from({ length: DEVICES }, (_, i) => `to${tag}r${r}q${i}`),
      state: new Int32Array(new SharedArrayBuffer(4 * (DEVICES + 2))),
    };
    names.push(...job.names);
    const worker = new Worker(__filename, { workerData: job });
    const exited = once(worker, 'exit');
    worker.on('error', (e: Error) => failures.push(`round ${r}: ${e.stack ?? String(e)}`));
    await once(worker, 'message');
    spinMs(delayMs);
    await worker.terminate();
    await exited;
    const states = Array.from(job.state);
    if (states.some((s) => s === 1)) midOpen++;
    if (states.every((s) => s === 2)) settled++;
    return states.some((s) => s === 1);
  };
  // Warm-up: one-time allocations of the first workers are not leaks.
  for (let r = 0; r < 3; r++) await round(-1 - r, 3 * openMs);
  const fdsBefore = openFdCount();
  // A staircase on the delay: later after a termination that landed mid-open,
  // sooner after one that did not, so most land around the moment the
  // results reach JS, where an fd without an owner would leak.
  let delayMs = openMs / 2;
  for (let r = 0; r < rounds; r++) {
    const early = await round(r, delayMs * (0.95 + 0.1 * Math.random()));
    delayMs *= early ? 1.06 : 0.94;
  }
  const fdsAfter = openFdCount();
  // A device whose queue fd was closed is gone; one that is still here has
  // an fd holding it, and a second open of it fails with EBUSY.
  const linger = new Set(ipJson<{ ifname: string }>('link', 'show').map((l) => l.ifname));
  const reopenFailures: string[] = [];
  for (const name of names.filter((n) => linger.has(n))) {
    try {
      await (await TunDevice.open({ name })).close();
    } catch (error) {
      reopenFailures.push(`${name}: ${(error as { code?: string }).code ?? String(error)}`);
    }
  }
  report({ rounds, openMs, midOpen, settled, fdsBefore, fdsAfter, reopenFailures, failures });
}

if (isMainThread) {
  void main(Number(process.argv[2] ?? 100));
} else {
  void body(workerData as Job);
}
