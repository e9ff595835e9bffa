// npm run bench [-- --quick] [-- --soak] [-- --rounds N] [-- --out FILE] [-- --only rx,echo] [-- --peer DIR] [-- --baseline DIR]
//
// Runs every case against a C reference in the same run, alternately (C, Node,
// C, Node ...), and reports medians, ranges and Node/C ratios: this machine
// drifts 2x from minute to minute, so only ratios from one run mean anything.
// rx is measured three ways: drain (the reader's capacity: the ring filled
// first, then read with no sender running), paced (its CPU per packet at a
// fixed offered load every reader keeps up with) and flood (one sender as
// fast as it goes: a figure of the sender's unless the reader was busy all
// along, and flagged so). Every rx figure comes with the reader's CPU per
// packet and waitShare, the share of the run it waited for a CPU that other
// load on the machine held.
//
// Safety: the whole run happens inside a fresh network namespace
// (scripts/in-netns.js); the forward case adds two named namespaces of its own
// (test/netns-pair.ts, the offload tests' topology) and deletes them in `finally`. Before any load starts, the namespace must
// have no default route and the target address must route into the case's
// TUN device, or the run stops.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { namespacesAround, type Namespaces } from '../test/netns-pair';
import { defaultRoutes, enterNamespace } from './netns';

const root = path.join(__dirname, '..', '..');
const buildDir = path.join(root, 'bench', 'build');
const worker = path.join(__dirname, 'worker.js');

interface Options {
  quick: boolean;
  soak: boolean;
  rounds: number;
  out: string;
  only: string[] | undefined;
  peer: string | undefined;
  baseline: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, soak: false, rounds: 5, out: '', only: undefined, peer: undefined, baseline: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--soak') o.soak = true;
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--out') o.out = path.resolve(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--peer') o.peer = path.resolve(argv[++i]);
    else if (a === '--baseline') o.baseline = path.resolve(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick) o.rounds = 1;
  // A soak has results of its own: it must not replace a full run's.
  o.out ||= path.join(root, 'bench', o.soak ? 'soak.json' : 'results.json');
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 20) throw new Error('--rounds: 1..20');
  return o;
}

// ---- processes --------------------------------------------------------------

/** A child speaking the ready / go / one-JSON-line protocol. */
class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  #waiters: Array<() => void> = [];
  #stderr = '';

  constructor(command: string, args: string[]) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    // 'close', not 'exit': 'exit' can come before the last stdout line has
    // been read, and then the result line looks missing.
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code) => {
        for (const w of this.#waiters.splice(0)) w();
        resolve(code);
      }),
    );
  }

  /** Waits for a line equal to `text` (bounded). */
  async waitFor(text: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.includes(text)) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${this.child.spawnargs.join(' ')}: no '${text}' (${this.#stderr.trim() || 'exited'})`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  go(): void {
    this.child.stdin!.write('go\n');
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Waits (bounded) for the k-th JSON line (k from 0) and returns it. */
  async json(k: number, timeoutMs = 20_000): Promise<Record<string, number>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const json = this.lines.filter((l) => l.startsWith('{'));
      if (json.length > k) return JSON.parse(json[k]) as Record<string, number>;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${this.child.spawnargs.join(' ')}: no result ${k} (${this.#stderr.trim() || 'exited'})`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Stops it (SIGTERM; SIGKILL after 3 s) and returns its JSON line. */
  async result(stop = true): Promise<Record<string, number>> {
    if (stop && this.child.exitCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
    const json = this.lines.find((l) => l.startsWith('{'));
    if (json === undefined) throw new Error(`${this.child.spawnargs.join(' ')}: no result (${this.#stderr.trim()})`);
    return JSON.parse(json) as Record<string, number>;
  }
}

function sh(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8' });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Refuses to send unless `dst` leaves through `dev` in this namespace and nothing leads out. */
function assertRoutedInto(dst: string, dev: string, netns?: string): void {
  if (defaultRoutes(netns) > 0) throw new Error(`namespace ${netns ?? '(bench)'} has a default route: refusing to send`);
  const pre = netns === undefined ? [] : ['-n', netns];
  const [route] = JSON.parse(sh('ip', ...pre, '-j', 'route', 'get', dst)) as Array<{ dev: string }>;
  if (route?.dev !== dev) throw new Error(`${dst} routes to ${route?.dev}, not ${dev}: refusing to send`);
}

function linkTxDropped(dev: string, netns?: string): number {
  const pre = netns === undefined ? [] : ['-n', netns];
  const [link] = JSON.parse(sh('ip', ...pre, '-j', '-s', 'link', 'show', 'dev', dev)) as Array<{
    stats64: { tx: { dropped: number } };
  }>;
  return link.stats64.tx.dropped;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/u.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

// ---- variants ---------------------------------------------------------------

type Variant =
  | 'C'
  | 'C-mt'
  | 'C-uv'
  | 'C-uring'
  | 'node-stream'
  | 'node-batch'
  | 'thread-stream'
  | 'thread-batch'
  | 'views-batch'
  | 'peer'
  | 'base-stream'
  | 'base-batch'
  | 'base-thread-stream'
  | 'base-thread-batch';

/**
 * --baseline DIR: a built checkout of this project (npm run build there), whose
 * workers run as base-stream and base-batch beside this tree's (and, where the
 * thread-* variants run, as base-thread-stream and base-thread-batch), so a
 * change is kept only if it wins against the code before it in the same run.
 */
let baselineDir: string | undefined;

/** --peer DIR: a directory where appium-ios-tuntap was npm-installed by hand (rx and echo only). */
let peerDir: string | undefined;

// The TUN side on CPU 1 and the load on CPU 0, C and Node alike: left to the
// scheduler, the two sometimes share a core and a run's figure halves.
const TUN_CPU = ['-c', '1'];
const LOAD_CPU = ['-c', '0'];
// The thread-* variants' reader thread (TunDeviceOptions.readerThread.cpu).
const READER_CPU = 0;

function tunSide(variant: Variant, args: string[]): Proc {
  if (variant === 'C') return new Proc('taskset', [...TUN_CPU, path.join(buildDir, 'tunref'), ...args]);
  // The same C reader with io_uring multishot reads instead of read(2) (tunref.c, struct uring).
  if (variant === 'C-uring') return new Proc('taskset', [...TUN_CPU, path.join(buildDir, 'tunref'), ...args, 'uring']);
  // The same C reader in a process with a second, idle thread, as every Node process has (tunref.c, poll-mt).
  if (variant === 'C-mt') return new Proc('taskset', [...TUN_CPU, path.join(buildDir, 'tunref'), ...args, 'poll-mt']);
  // C-mt waiting as libuv does in every Node process: a zero-timeout epoll_wait before each sleep (tunref.c, poll-uv).
  if (variant === 'C-uv') return new Proc('taskset', [...TUN_CPU, path.join(buildDir, 'tunref'), ...args, 'poll-uv']);
  if (variant === 'peer')
    return new Proc('taskset', [...TUN_CPU, process.execPath, path.join(__dirname, 'peer-worker.js'), peerDir!, ...args]);
  // BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the workers.
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const script = variant.startsWith('base-') ? path.join(baselineDir!, 'dist', 'bench', 'worker.js') : worker;
  // views-batch: node-batch that also reads each packet's 5-tuple and TCP flags through PacketViews.
  const api = variant === 'views-batch' ? 'batch+views' : variant.endsWith('batch') ? 'batch' : 'stream';
  // readerThread: JS on CPU 1 as in every variant, its reader thread pinned
  // to CPU 0, idle in the drain cases (in the paced ones the sender's too).
  const threaded = variant.startsWith('thread-') || variant.startsWith('base-thread-');
  return new Proc('taskset', [
    ...TUN_CPU,
    process.execPath,
    ...flags,
    script,
    threaded ? `${api}-thread:${READER_CPU}` : api,
    ...args,
  ]);
}

/**
 * The TUN side of the multi-queue cases: one reader thread per queue (C:
 * pthreads, bench/c/tunref.c mq; Node: worker threads, bench/queues-worker.ts),
 * on as many cores as queues (CPU 1 first, where the other cases read).
 */
function queuesSide(variant: Variant, dev: string, queues: number): Proc {
  const cpus = ['-c', queues === 1 ? '1' : '0-1'];
  if (variant === 'C') return new Proc('taskset', [...cpus, path.join(buildDir, 'tunref'), 'mq', dev, String(queues)]);
  // views-batch: node-batch that also reads each packet's 5-tuple and TCP flags through PacketViews.
  const api = variant === 'views-batch' ? 'batch+views' : variant.endsWith('batch') ? 'batch' : 'stream';
  return new Proc('taskset', [...cpus, process.execPath, path.join(__dirname, 'queues-worker.js'), api, dev, String(queues)]);
}

const load = (...args: string[]): Proc => new Proc('taskset', [...LOAD_CPU, path.join(buildDir, 'load'), ...args]);

let devCounter = 0;
const nextDev = (): string => `tbench${devCounter++}`;

const NET = { local: '10.77.1.1', peer: '10.77.1.2', prefix: '10.77.1.0/24', port: 7 };

function configure(dev: string, local: string, netns?: string): void {
  const pre = netns === undefined ? [] : ['-n', netns];
  sh('ip', ...pre, 'addr', 'add', `${local}/24`, 'dev', dev);
  sh('ip', ...pre, 'link', 'set', dev, 'up');
}

interface Sizes {
  seconds: number;
  max: number;
}

/** One measurement: the value (higher is better unless `lowerIsBetter`), plus details. */
interface Sample {
  value: number;
  extra: Record<string, number>;
}

/**
 * A reader whose CPU share stays below this was waiting for packets part of
 * the time: the sender, not the reader, set the rate of that run.
 */
const READER_BOUND_SHARE = 0.9;

/**
 * rx with a sender running: `offered` undefined floods (as fast as one
 * sender on the other core goes), a number paces the sender at that many
 * packets/s. A flood's figure is the reader's only if the reader was busy all
 * the time (readerBound: CPU share at or above READER_BOUND_SHARE); at a fixed
 * offered load below every reader's capacity, the figure is the reader's CPU
 * per packet, its cost.
 */
async function rxRun(variant: Variant, payload: number, z: Sizes, offered?: number): Promise<Sample> {
  const dev = nextDev();
  const tun = tunSide(variant, ['rx', dev, String(z.seconds + 2), String(z.max * 2)]);
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    // Paced: 50 ms of the offered load fits in the ring, so a reader the
    // machine's other load keeps off its CPU for a time slice catches up
    // instead of losing packets. A flood keeps the default ring (500).
    if (offered !== undefined) sh('ip', 'link', 'set', 'dev', dev, 'txqueuelen', String(Math.ceil(offered / 20)));
    assertRoutedInto(NET.peer, dev);
    let dropped0 = linkTxDropped(dev);
    tun.go();
    const sender =
      offered === undefined
        ? load('flood', NET.peer, String(NET.port), String(payload), String(z.seconds), String(z.max))
        : load('paced', NET.peer, String(NET.port), String(payload), String(offered), String(z.seconds), String(z.max));
    // Drops are counted from a little after the reader's warm-up on, as its packets and CPU.
    const warmedUp = setTimeout(() => (dropped0 = linkTxDropped(dev)), Number(process.env.TUNTAP_BENCH_WARMUP) * 1000 + 200);
    const sent = await sender.result(false);
    clearTimeout(warmedUp);
    await sleep(50);
    const dropped = linkTxDropped(dev) - dropped0;
    const r = await tun.result();
    const rate = r.seconds > 0 ? r.packets / r.seconds : 0;
    const cpuUsPerPkt = (r.cpu * 1e6) / r.packets;
    const cpuShare = r.seconds > 0 ? r.cpu / r.seconds : 0;
    // waitShare: of the run's time, the share the reader waited for a CPU that the machine's other load held.
    const waitShare = r.seconds > 0 ? r.runDelay / r.seconds : 0;
    const common = {
      read: r.packets,
      sentRate: sent.seconds > 0 ? sent.sent / sent.seconds : 0,
      txDropped: dropped,
      cpuUsPerPkt,
      cpuShare,
      waitShare,
    };
    if (offered === undefined) {
      return {
        value: rate,
        extra: { ...common, readerBound: cpuShare >= READER_BOUND_SHARE ? 1 : 0, faultsPerKPkt: (r.faults * 1000) / r.packets },
      };
    }
    // C-uv's zero-timeout looks before its sleeps, per 1,000 packets (one per wake-up that found the ring empty).
    const looks: Record<string, number> = variant === 'C-uv' ? { emptyLooksPerKPkt: (r.emptyLooks * 1000) / r.packets } : {};
    // Kept up: read the offered rate (within 2%) and the ring dropped nothing.
    return {
      value: cpuUsPerPkt,
      extra: { ...common, readRate: rate, keptUp: dropped === 0 && rate >= offered * 0.98 ? 1 : 0, ...looks },
    };
  } finally {
    tun.child.kill('SIGKILL');
  }
}

/**
 * The reader's capacity: the ring is filled first (txqueuelen above the
 * count, the reader attached but not reading), then the reader drains
 * `count` packets with no sender running. A warm-up fill and drain of
 * `warm` packets comes first, in the same process. The harness checks that
 * the ring took every packet (no TX drop), so the reader reads exactly what
 * was sent.
 */
async function drainRun(variant: Variant, payload: number, warm: number, count: number): Promise<Sample> {
  const dev = nextDev();
  const tun = tunSide(variant, ['drain', dev]);
  try {
    const r = await fillAndDrain(tun, dev, payload, [warm, count], 1);
    // The reader exits by itself at the end of its input (and writes its profile, with BENCH_NODE_FLAGS=--cpu-prof).
    await Promise.race([tun.exited, sleep(3000)]);
    return {
      value: r.seconds > 0 ? r.packets / r.seconds : 0,
      extra: {
        read: r.packets,
        cpuUsPerPkt: (r.cpu * 1e6) / r.packets,
        // The event loop's thread alone (C: its one reading thread), without
        // a reader thread's: what a packet leaves less for the user's code.
        loopUsPerPkt: ((r.loopCpu ?? r.cpu) * 1e6) / r.packets,
        // readerThread's thread alone, and the share of the drain it ran: at
        // about 1 it was the busy side, and set the rate.
        ...(r.readerCpu > 0 ? { threadUsPerPkt: (r.readerCpu * 1e6) / r.packets, threadBusy: r.readerCpu / r.seconds } : {}),
        cpuShare: r.seconds > 0 ? r.cpu / r.seconds : 0,
        // Of the run's time, the share the reader waited for a CPU the machine's other load held.
        waitShare: r.seconds > 0 ? r.runDelay / r.seconds : 0,
        faultsPerKPkt: (r.faults * 1000) / r.packets,
      },
    };
  } finally {
    tun.child.kill('SIGKILL');
  }
}

/**
 * For each count: fills the ring(s), says "go N" and takes the reader's
 * report; returns the last one. Then ends the reader's input.
 */
async function fillAndDrain(
  tun: Proc,
  dev: string,
  payload: number,
  counts: number[],
  flows: number,
): Promise<Record<string, number>> {
  await tun.waitFor('ready');
  configure(dev, NET.local);
  // Room for a whole fill in every queue's ring (txqueuelen packets each): the flow hash may send all to one.
  sh('ip', 'link', 'set', 'dev', dev, 'txqueuelen', String(Math.max(...counts) + 4096));
  assertRoutedInto(NET.peer, dev);
  let r: Record<string, number> = {};
  for (const [k, n] of counts.entries()) {
    await fillRing(dev, payload, n, flows);
    tun.send(`go ${n}`);
    r = await tun.json(k);
    if (r.packets !== n) throw new Error(`drained ${r.packets} of ${n} packets`);
  }
  tun.child.stdin!.end();
  return r;
}

/** Sends `count` packets in `flows` flows into dev's rings (bounded: 10 s) and checks that the rings dropped none. */
async function fillRing(dev: string, payload: number, count: number, flows = 1): Promise<void> {
  const dropped0 = linkTxDropped(dev);
  const sent = await load('flood', NET.peer, String(NET.port), String(payload), '10', String(count), String(flows)).result(false);
  const dropped = linkTxDropped(dev) - dropped0;
  if (sent.sent !== count || dropped !== 0) throw new Error(`fill: sent ${sent.sent} of ${count}, ring dropped ${dropped}`);
}

/** Flows in the multi-queue cases: enough that the kernel's flow hash spreads them over the queues. */
const MQ_FLOWS = 64;

/** The drain (drainRun) on a multi-queue device, one reader thread per queue; the rate is the queues' together. */
async function mqDrainRun(variant: Variant, queues: number, payload: number, warm: number, count: number): Promise<Sample> {
  const dev = nextDev();
  const tun = queuesSide(variant, dev, queues);
  try {
    const r = await fillAndDrain(tun, dev, payload, [warm, count], MQ_FLOWS);
    return {
      value: r.seconds > 0 ? r.packets / r.seconds : 0,
      extra: {
        read: r.packets,
        cpuUsPerPkt: (r.cpu * 1e6) / r.packets,
        // Of the reader threads' time, the share they waited for a CPU that other load held.
        waitShare: r.seconds > 0 ? r.runDelay / (r.seconds * queues) : 0,
        ...queueSplit(r),
      },
    };
  } finally {
    tun.child.kill('SIGKILL');
  }
}

/** A flood of MQ_FLOWS flows into a multi-queue device (counted after the warm-up, as rxRun). */
async function mqFloodRun(variant: Variant, queues: number, payload: number, z: Sizes): Promise<Sample> {
  const dev = nextDev();
  const tun = queuesSide(variant, dev, queues);
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    assertRoutedInto(NET.peer, dev);
    tun.send('run');
    const flood = load('flood', NET.peer, String(NET.port), String(payload), String(z.seconds), String(z.max), String(MQ_FLOWS));
    await sleep(Number(process.env.TUNTAP_BENCH_WARMUP) * 1000);
    tun.send('mark');
    const a = await tun.json(0);
    const dropped0 = linkTxDropped(dev);
    const sent = await flood.result(false);
    tun.send('mark');
    const b = await tun.json(1);
    const [packets, seconds, cpu] = [b.packets - a.packets, b.seconds - a.seconds, b.cpu - a.cpu];
    return {
      value: seconds > 0 ? packets / seconds : 0,
      extra: {
        read: packets,
        sentRate: sent.seconds > 0 ? sent.sent / sent.seconds : 0,
        txDropped: linkTxDropped(dev) - dropped0,
        cpuUsPerPkt: packets > 0 ? (cpu * 1e6) / packets : 0,
        // CPU seconds per second: up to the number of queues.
        cpuCores: seconds > 0 ? cpu / seconds : 0,
        readerBound: seconds > 0 && cpu / seconds >= READER_BOUND_SHARE * queues ? 1 : 0,
        waitShare: seconds > 0 ? (b.runDelay - a.runDelay) / (seconds * queues) : 0,
        ...queueSplit(b),
      },
    };
  } finally {
    tun.child.kill('SIGKILL');
  }
}

/** How evenly the flow hash spread the packets: the smallest queue's count over the largest's. */
function queueSplit(r: Record<string, unknown>): { balance: number } {
  const perQueue = r.perQueue as number[];
  return { balance: Math.min(...perQueue) / Math.max(...perQueue) };
}

async function txRun(variant: Variant, z: Sizes): Promise<Sample> {
  const dev = nextDev();
  const tun = tunSide(variant, ['tx', dev, NET.peer, NET.local, String(NET.port), '64', String(z.seconds), String(z.max)]);
  let sink: Proc | undefined;
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    // A sink that never sleeps: one that does is woken by the writer's
    // system calls (delivery wakes it), and how often depends on how the
    // writes bunch up, not on what they cost. C and the stream writer took
    // 1.97 and 2.12 µs a packet with a sleeping sink (bench/results.json
    // before this), 1.60 and 1.73 with this one (5 rounds).
    sink = load('sink', NET.local, String(NET.port), String(z.seconds + 5), 'busy');
    await sink.waitFor('ready');
    assertRoutedInto(NET.peer, dev);
    tun.go();
    const r = await tun.result(false);
    await sleep(100);
    const s = await sink.result();
    return {
      value: r.seconds > 0 ? r.packets / r.seconds : 0,
      extra: {
        written: r.packets,
        // What reached the sink of all the writer wrote, its warm-up included
        // (the sink counts from the start; the writer's counters start again
        // after the warm-up).
        deliveredShare: r.packets + r.warmPackets > 0 ? s.received / (r.packets + r.warmPackets) : 0,
        cpuUsPerPkt: (r.cpu * 1e6) / r.packets,
        faultsPerKPkt: (r.faults * 1000) / r.packets,
      },
    };
  } finally {
    tun.child.kill('SIGKILL');
    sink?.child.kill('SIGKILL');
  }
}

async function echoRun(variant: Variant, inflight: number, z: Sizes): Promise<Sample> {
  const dev = nextDev();
  const tun = tunSide(variant, ['echo', dev, String(z.seconds + 2), String(z.max * 2)]);
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    assertRoutedInto(NET.peer, dev);
    tun.go();
    const ping = load('ping', NET.local, NET.peer, String(NET.port), String(inflight), String(z.seconds), String(z.max));
    const r = await ping.result(false);
    const { cpu } = await tun.result();
    return {
      value: r.seconds > 0 ? r.roundTrips / r.seconds : 0,
      extra: { rttMedianUs: r.rttMedianUs, rttP99Us: r.rttP99Us, timeouts: r.timeouts, cpuUsPerRt: (cpu * 1e6) / r.roundTrips },
    };
  } finally {
    tun.child.kill('SIGKILL');
  }
}

/**
 * Two namespaces, each holding one of the forwarder's TUN devices; TCP from A
 * to B through it. `forwarding`: plain, offload (both sides, C or Node), or
 * split / split+coalesce (Node only; see bench/worker.ts).
 */
async function forwardRun(variant: Variant, forwarding: string, z: Sizes): Promise<Sample> {
  const [devA, devB] = [nextDev(), nextDev()];
  const tun = tunSide(variant, ['fwd', devA, devB, String(z.seconds + 5), String(z.max * 100), forwarding]);
  let ns: Namespaces | undefined;
  let recv: Proc | undefined;
  try {
    await tun.waitFor('ready');
    // IPv6 is off in the bench's namespace (see main), so no IPv6 addresses.
    ns = namespacesAround(devA, devB, { ipv6: false });
    assertRoutedInto(ns.addressB, devA, ns.nsA);
    assertRoutedInto(ns.addressA, devB, ns.nsB);
    tun.go();
    recv = new Proc('ip', [
      'netns',
      'exec',
      ns.nsB,
      'taskset',
      ...LOAD_CPU,
      path.join(buildDir, 'load'),
      'tcprecv',
      ns.addressB,
      '5001',
      String(z.seconds + 3),
    ]);
    await recv.waitFor('ready');
    const send = new Proc('ip', [
      'netns',
      'exec',
      ns.nsA,
      'taskset',
      ...LOAD_CPU,
      path.join(buildDir, 'load'),
      'tcpsend',
      ns.addressB,
      '5001',
      String(z.seconds),
    ]);
    await send.result(false);
    // The receiver stops by itself once the sender's FIN is through; if a
    // stalled connection (retransmission timeouts) keeps it waiting, SIGTERM
    // after a second makes it report what it counted so far.
    await Promise.race([recv.exited, sleep(1000)]);
    const r = await recv.result();
    // Before the forwarder stops: its devices vanish with its fds.
    const txDropped = linkTxDropped(devA, ns.nsA);
    const f = await tun.result();
    return {
      value: r.seconds > 0 ? (r.bytes * 8) / r.seconds / 1e9 : 0,
      extra: {
        forwarded: f.packets,
        bytes: r.bytes,
        // Bytes per packet read (both directions, ACKs included): above the MTU only with super-packets.
        avgPkt: f.packets > 0 ? f.bytes / f.packets : 0,
        largest: f.largest,
        // Forwarder CPU seconds per GiB it moved: steadier than Gbit/s on a shared machine.
        cpuSPerGiB: f.bytes > 0 ? f.cpu / (f.bytes / 2 ** 30) : 0,
        // The sending side's ring overflowing while the forwarder lags.
        txDropped,
      },
    };
  } finally {
    tun.child.kill('SIGKILL');
    recv?.child.kill('SIGKILL');
    ns?.remove();
  }
}

// ---- the suite --------------------------------------------------------------

/** One thing a case measures, one row in the table. */
interface VariantDef {
  /** The row's case name: one case's variants may fill several groups ('forward TCP offload'). */
  group: string;
  side: Variant;
  /** forward only: plain, offload, split, split+coalesce (bench/worker.ts). */
  forwarding?: string;
  /** Node/C divides by the C row of this group (default: its own). */
  cGroup?: string;
  /** "vs plain" divides by the row of the same side in this group (offload variants). */
  plainGroup?: string;
  /** Which side's row in plainGroup, when not its own (split: node-stream). */
  plainSide?: Variant;
}

const keyOf = (group: string, side: Variant): string => `${group} ${side}`;

interface CaseDef {
  name: string;
  unit: string;
  lowerIsBetter?: boolean;
  variants: VariantDef[];
  run: (v: VariantDef) => Promise<Sample>;
  /** A second figure from the same runs (echo: RTT). */
  also?: { name: string; unit: string; key: string; lowerIsBetter: boolean };
  /**
   * A sample's extra[key] is 1 when its figure is the TUN side's own (a flood's
   * reader was busy all along; a paced reader kept up); a row where most
   * samples are not gets no Node/C ratio, and `note` says why.
   */
  valid?: { key: string; note: string };
}

// Seconds of every run not counted, C and Node alike: a steady state, not a
// start-up. A fresh Node process spends its first second compiling the hot
// loop, growing its young generation and filling the slab pool (src/slab_pool.h);
// with 0.3 s, rx 1400 B through readable still took 4.8 page faults per
// 1,000 packets in the counted second (0.3 after a second) and read about
// 0.83 of C instead of about 0.9.
const WARMUP = 1;

function cases(o: Options): CaseDef[] {
  // Each run: WARMUP s not counted, then about a second counted. The packet
  // bounds stay above what the whole run can move (the flood sends up to
  // 1.5M packets a second here), so the deadline ends a run, not the bound.
  const z: Sizes = o.quick ? { seconds: 0.2, max: 20_000 } : { seconds: WARMUP + 1, max: 8_000_000 };
  const echoZ: Sizes = o.quick ? { seconds: 0.2, max: 2_000 } : { seconds: WARMUP + 1, max: 1_500_000 };
  baselineDir = o.baseline;
  const all: Variant[] =
    o.baseline === undefined
      ? ['C', 'node-stream', 'node-batch']
      : ['C', 'node-stream', 'node-batch', 'base-stream', 'base-batch'];
  peerDir = o.peer;
  const withPeer: Variant[] = o.peer === undefined ? all : [...all, 'peer'];
  // The reader on a thread of its own (TunDeviceOptions.readerThread): in the rx drain and paced cases.
  const withThreads: Variant[] = [
    ...all,
    'C-uring',
    'thread-stream',
    'thread-batch',
    ...(o.baseline === undefined ? [] : (['base-thread-stream', 'base-thread-batch'] as const)),
  ];
  // The drain, paced, tx and echo cases also run C in a multi-threaded
  // process (C-mt), as every Node process is: what the kernel charges such a
  // process per system call, no code on a Node thread escapes.
  const withCmt: Variant[] = [...withThreads, 'C-mt'];
  const rtt = { name: 'RTT median', unit: 'µs', key: 'rttMedianUs', lowerIsBetter: true };
  const simple = (
    name: string,
    sides: Variant[],
    unit: string,
    run: (v: Variant) => Promise<Sample>,
    more: Partial<CaseDef> = {},
  ): CaseDef => ({
    name,
    unit,
    variants: sides.map((side) => ({ group: name, side })),
    run: (v) => run(v.side),
    ...more,
  });
  // The forward case: plain and offload variants alternated in the same
  // rounds, so the offload/plain speed-ups come from one stretch of time. The
  // split variants (TSO on the reading side, super-packets cut by splitGso, and
  // merged again by coalesceTcp) measure lib/gso.ts and lib/gro.ts against the
  // C forwarder with offloads.
  const fwd = 'forward TCP';
  const fwdOffload = `${fwd} offload`;
  const fwdZ: Sizes = o.quick ? { seconds: 0.3, max: 100_000 } : { seconds: WARMUP + 1.5, max: 1_000_000 };
  const forwardVariants: VariantDef[] = [
    ...all.map((side) => ({ group: fwd, side, forwarding: 'plain' })),
    ...all.map((side) => ({ group: fwdOffload, side, forwarding: 'offload', plainGroup: fwd })),
    ...['split', 'split+coalesce'].map((forwarding) => ({
      group: `${fwd} ${forwarding}`,
      side: 'node-stream' as const,
      forwarding,
      cGroup: fwdOffload,
      plainGroup: fwd,
    })),
  ];
  // rx: the reader's capacity (drain), its cost at a fixed offered load below
  // every reader's capacity (paced), and a flood, whose rate is the sender's
  // unless the reader's CPU share says otherwise (bench/c/load.c).
  const drainN = o.quick ? { warm: 5_000, count: 20_000 } : { warm: 50_000, count: 200_000 };
  const offered = o.quick ? 50_000 : 200_000;
  const cpu = { name: 'CPU', unit: 'µs/pkt', key: 'cpuUsPerPkt', lowerIsBetter: true };
  const readerBound = {
    key: 'readerBound',
    note: `this or the C reader's CPU share < ${READER_BOUND_SHARE}: its sender (or, by waitShare, other load) set its rate`,
  };
  const keptUp = { key: 'keptUp', note: 'the reader fell behind the offered load (waitShare: other load held its CPU)' };
  const list: CaseDef[] = [
    ...[64, 1400].map((b) =>
      simple(`rx drain ${b}B`, withCmt, 'pkt/s', (v) => drainRun(v, b, drainN.warm, drainN.count), { also: cpu }),
    ),
    // The views' cost in a read loop: the same drain with and without the
    // parse, alternated; the CPU row's xPlain is views-batch over node-batch.
    {
      name: 'rx drain 64B parse',
      unit: 'pkt/s',
      also: cpu,
      variants: [
        { group: 'rx drain 64B parse', side: 'node-batch' },
        { group: 'rx drain 64B parse', side: 'views-batch', plainGroup: 'rx drain 64B parse', plainSide: 'node-batch' },
      ],
      run: (v) => drainRun(v.side, 64, drainN.warm, drainN.count),
    },
    ...[64, 1400].map((b) =>
      simple(`rx paced ${b}B ${offered / 1000}k/s`, [...withCmt, 'C-uv'], 'µs/pkt', (v) => rxRun(v, b, z, offered), {
        lowerIsBetter: true,
        valid: keptUp,
      }),
    ),
    ...[64, 1400].map((b) => simple(`rx flood ${b}B`, withPeer, 'pkt/s', (v) => rxRun(v, b, z), { valid: readerBound })),
    // Scaling: one queue per reader thread, 1 and 2 queues; "xPlain" is 2 queues over 1.
    ...(['drain', 'flood'] as const).map((kind): CaseDef => {
      const group = (q: number): string => `rx mq ${kind} 64B ${q}q`;
      return {
        name: `rx mq ${kind} 64B`,
        unit: 'pkt/s',
        variants: [1, 2].flatMap((q) =>
          all.map((side) => ({ group: group(q), side, ...(q === 2 ? { plainGroup: group(1) } : {}) })),
        ),
        run: (v) => {
          const q = v.group.endsWith('2q') ? 2 : 1;
          return kind === 'drain' ? mqDrainRun(v.side, q, 64, drainN.warm, drainN.count) : mqFloodRun(v.side, q, 64, z);
        },
        ...(kind === 'flood' ? { valid: readerBound } : {}),
      };
    }),
    simple('tx 64B', [...all, 'C-mt', 'C-uring'], 'pkt/s', (v) => txRun(v, z)),
    simple('echo 1 in flight', [...withPeer, 'C-mt'], 'rt/s', (v) => echoRun(v, 1, echoZ), { also: rtt }),
    simple('echo 32 in flight', [...withPeer, 'C-mt'], 'rt/s', (v) => echoRun(v, 32, echoZ), { also: rtt }),
    { name: fwd, unit: 'Gbit/s', variants: forwardVariants, run: (v) => forwardRun(v.side, v.forwarding!, fwdZ) },
  ];
  return list.filter((c) => o.only === undefined || o.only.some((p) => c.name.startsWith(p)));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  case: string;
  variant: Variant;
  unit: string;
  median: number;
  min: number;
  max: number;
  /** Median over the C row's median (of the same group, or of `cGroup`). */
  ratioToC: number | null;
  /** Offload variants: median over the plain variant's median, same side. */
  speedupOverPlain: number | null;
  /** Why ratioToC is withheld (a flood the sender bounded...), when it is. */
  note?: string;
  samples: Sample[];
}

function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return x >= 100 ? x.toFixed(0) : x.toFixed(2);
}

async function suite(o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of cases(o)) {
    const samples = new Map<string, Sample[]>(c.variants.map((v) => [keyOf(v.group, v.side), []]));
    // Alternate within each round so drift hits every variant alike, and
    // start each round one variant further on: in a fixed order the echo
    // case's Node variants were 22.7 and 33.2 us apart (the one after C
    // faster, whichever it was), and 27.3 and 27.3 us with their order swapped.
    for (let round = 0; round < o.rounds; round++) {
      const start = round % c.variants.length;
      for (const v of [...c.variants.slice(start), ...c.variants.slice(0, start)]) {
        const sample = await c.run(v).catch((error: unknown) => {
          throw new Error(`${keyOf(v.group, v.side)}: ${error instanceof Error ? error.message : String(error)}`);
        });
        samples.get(keyOf(v.group, v.side))!.push(sample);
      }
    }
    const figures = [{ name: c.name, unit: c.unit, pick: (s: Sample) => s.value, lower: c.lowerIsBetter ?? false }];
    if (c.also !== undefined) {
      const key = c.also.key;
      figures.push({
        name: `${c.name} ${c.also.name}`,
        unit: c.also.unit,
        pick: (s: Sample) => s.extra[key],
        lower: c.also.lowerIsBetter,
      });
    }
    for (const f of figures) {
      const medianOf = (group: string, side: Variant): number => {
        const xs = samples.get(keyOf(group, side));
        return xs === undefined ? 0 : median(xs.map(f.pick));
      };
      for (const v of c.variants) {
        const own = samples.get(keyOf(v.group, v.side))!;
        const xs = own.map(f.pick);
        const m = median(xs);
        const cMedian = medianOf(v.cGroup ?? v.group, 'C');
        const plain = v.plainGroup === undefined ? 0 : medianOf(v.plainGroup, v.plainSide ?? v.side);
        // The ratio is the TUN sides' only if both rows measured the TUN side.
        const validRow = (xs: Sample[] | undefined): boolean =>
          c.valid === undefined || (xs !== undefined && xs.filter((x) => x.extra[c.valid!.key] === 1).length * 2 > xs.length);
        const valid = validRow(own) && validRow(samples.get(keyOf(v.cGroup ?? v.group, 'C')));
        rows.push({
          case: f.name === c.name ? v.group : `${v.group} ${f.name.slice(c.name.length + 1)}`,
          variant: v.side,
          unit: f.unit,
          median: m,
          min: Math.min(...xs),
          max: Math.max(...xs),
          ratioToC: (v.side === 'C' && v.cGroup === undefined) || cMedian === 0 || !valid ? null : m / cMedian,
          speedupOverPlain: plain === 0 ? null : m / plain,
          ...(valid ? {} : { note: c.valid!.note }),
          samples: own,
        });
      }
    }
    printRows(rows.filter((r) => r.case.startsWith(c.name)));
  }
  return rows;
}

let headerPrinted = false;
function printRows(rows: Row[]): void {
  if (!headerPrinted) {
    console.log(
      `${'case'.padEnd(30)}${'variant'.padEnd(19)}${'median'.padStart(10)}  ${'range'.padEnd(18)}${'unit'.padEnd(8)}${'Node/C'.padStart(7)}${'xPlain'.padStart(7)}  details (medians)`,
    );
    headerPrinted = true;
  }
  for (const r of rows) {
    const keys = Object.keys(r.samples[0]?.extra ?? {});
    const details = keys.map((k) => `${k}=${fmt(median(r.samples.map((s) => s.extra[k])))}`).join(' ');
    console.log(
      `${r.case.padEnd(30)}${r.variant.padEnd(19)}${fmt(r.median).padStart(10)}  ${`${fmt(r.min)}..${fmt(r.max)}`.padEnd(18)}${r.unit.padEnd(8)}${(r.ratioToC === null ? (r.note === undefined ? '' : '-') : r.ratioToC.toFixed(2)).padStart(7)}${(r.speedupOverPlain === null ? '' : r.speedupOverPlain.toFixed(2)).padStart(7)}  ${details}${r.note === undefined ? '' : `  [no ratio: ${r.note}]`}`,
    );
  }
}

/**
 * 60 s of rx flood (1400-byte packets) into `readable`, once with a fast
 * consumer (counts each packet) and once with a slow one (a millisecond's
 * wait after every 64 packets: backpressure holds the flood in the kernel,
 * whose ring drops the rest); the reader's RSS is sampled from /proc every
 * 5 s. Flat: the largest sample after the first 5 s within 10% of that first one.
 */
async function soak(o: Options): Promise<Record<string, unknown>> {
  const seconds = o.quick ? 2 : 60;
  const every = o.quick ? 250 : 5000;
  const out: Record<string, unknown> = { seconds };
  for (const consumer of ['fast', 'slow']) {
    const dev = nextDev();
    const tun = tunSide('node-stream', ['rx', dev, String(seconds + 5), String(1e9), ...(consumer === 'slow' ? ['slow'] : [])]);
    try {
      await tun.waitFor('ready');
      configure(dev, NET.local);
      assertRoutedInto(NET.peer, dev);
      tun.go();
      const dropped0 = linkTxDropped(dev);
      const flood = load('flood', NET.peer, String(NET.port), '1400', String(seconds), String(1e9));
      const pid = tun.child.pid!;
      const rss: number[] = [];
      const start = Date.now();
      // Bounded: one sample per `every` ms until the flood ends or its time (and a second) is up.
      while (Date.now() - start < (seconds + 1) * 1000 && flood.child.exitCode === null) {
        await Promise.race([flood.exited, sleep(every)]);
        rss.push(rssKiB(pid));
      }
      const sent = await flood.result(false);
      const dropped = linkTxDropped(dev) - dropped0;
      const r = await tun.result();
      const after = rss.slice(0, -1); // the last sample may come after the flood
      const first = after[0] ?? rss[0];
      const peak = Math.max(...rss);
      const growth = (Math.max(...after) - first) / first;
      out[consumer] = {
        packets: r.packets,
        sent: sent.sent,
        txDropped: dropped,
        rssKiB: rss,
        firstKiB: first,
        peakKiB: peak,
        growth,
        flat: growth <= 0.1,
      };
      console.log(
        `soak ${consumer} consumer: ${seconds} s of 1400 B flood, ${sent.sent} sent, ${r.packets} read, ${dropped} dropped by the ring; ` +
          `RSS ${first} KiB after ${every / 1000} s, peak ${peak} KiB, growth ${(growth * 100).toFixed(1)}% (${growth <= 0.1 ? 'flat' : 'NOT flat'}); samples ${rss.join(' ')}`,
      );
    } finally {
      tun.child.kill('SIGKILL');
    }
  }
  return out;
}

function buildC(): void {
  mkdirSync(buildDir, { recursive: true });
  for (const name of ['tunref', 'load']) {
    sh('cc', '-O2', '-Wall', '-pthread', '-o', path.join(buildDir, name), path.join(root, 'bench', 'c', `${name}.c`));
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces, TUN devices)');
  if (!enterNamespace(__filename)) return;
  if (defaultRoutes() > 0) throw new Error('this namespace has a default route: refusing to run');
  buildC();
  // Read by every C and Node program the harness starts (bench/c/common.h, bench/worker.ts).
  process.env.TUNTAP_BENCH_WARMUP = String(o.quick ? 0 : WARMUP);
  // IPv6 off in this namespace only: router solicitations would mix into the counts.
  writeFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
  const started = Date.now();
  // The machine's load average (1, 5, 15 min) at the start and the end: on a shared machine the neighbours' load shows in waitShare.
  const results: Record<string, unknown> = {
    node: process.version,
    date: new Date().toISOString(),
    rounds: o.rounds,
    quick: o.quick,
    loadAvgAtStart: loadavg(),
  };
  if (o.soak) results.soak = await soak(o);
  else
    results.rows = (await suite(o)).map(({ samples, ...r }) => ({
      ...r,
      samples: samples.map((s) => ({ value: s.value, ...s.extra })),
    }));
  results.seconds = (Date.now() - started) / 1000;
  results.loadAvgAtEnd = loadavg();
  // The other benches (bench:parse, :tls, :udp, :wireguard) keep their rows in the same file under their own keys.
  if (existsSync(o.out)) {
    const previous = JSON.parse(readFileSync(o.out, 'utf8')) as Record<string, unknown> & { parse?: object };
    for (const key of ['tls', 'udp', 'wireguard']) if (previous[key] !== undefined) results[key] = previous[key];
    // This run measures the readBatches drain itself.
    if (previous.parse !== undefined) results.parse = { ...previous.parse, readBatches: undefined };
  }
  writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${o.out} (${results.seconds} s)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
