// npm run bench [-- --quick] [-- --soak] [-- --rounds N] [-- --out FILE] [-- --only rx,echo] [-- --peer DIR]
//
// Runs every case against a C reference in the same run, alternately (C, Node,
// C, Node ...), and reports medians, ranges and Node/C ratios: this machine
// drifts 2x from minute to minute, so only ratios from one run mean anything.
//
// Safety: the whole run happens inside a fresh network namespace
// (scripts/in-netns.js); the forward case adds two named namespaces of its own
// (test/netns-pair.ts, the offload tests' topology) and deletes them in `finally`. Before any load starts, the namespace must
// have no default route and the target address must route into the case's
// TUN device, or the run stops.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { namespacesAround, type Namespaces } from '../test/netns-pair';

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
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    soak: false,
    rounds: 5,
    out: path.join(root, 'bench', 'results.json'),
    only: undefined,
    peer: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--soak') o.soak = true;
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--out') o.out = path.resolve(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--peer') o.peer = path.resolve(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick) o.rounds = 1;
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

function defaultRoutes(netns?: string): number {
  const pre = netns === undefined ? [] : ['-n', netns];
  const v4 = JSON.parse(sh('ip', ...pre, '-j', 'route', 'show', 'default') || '[]') as unknown[];
  const v6 = JSON.parse(sh('ip', ...pre, '-j', '-6', 'route', 'show', 'default') || '[]') as unknown[];
  return v4.length + v6.length;
}

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

type Variant = 'C' | 'node-stream' | 'node-batch' | 'peer';

/** --peer DIR: a directory where appium-ios-tuntap was npm-installed by hand (rx and echo only). */
let peerDir: string | undefined;

// The TUN side on CPU 1 and the load on CPU 0, C and Node alike: left to the
// scheduler, the two sometimes share a core and a run's figure halves.
const TUN_CPU = ['-c', '1'];
const LOAD_CPU = ['-c', '0'];

function tunSide(variant: Variant, args: string[]): Proc {
  if (variant === 'C') return new Proc('taskset', [...TUN_CPU, path.join(buildDir, 'tunref'), ...args]);
  if (variant === 'peer')
    return new Proc('taskset', [...TUN_CPU, process.execPath, path.join(__dirname, 'peer-worker.js'), peerDir!, ...args]);
  // BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the workers.
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  return new Proc('taskset', [
    ...TUN_CPU,
    process.execPath,
    ...flags,
    worker,
    variant === 'node-batch' ? 'batch' : 'stream',
    ...args,
  ]);
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

async function rxRun(variant: Variant, payload: number, z: Sizes): Promise<Sample> {
  const dev = nextDev();
  const tun = tunSide(variant, ['rx', dev, String(z.seconds + 2), String(z.max * 2)]);
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    assertRoutedInto(NET.peer, dev);
    const dropped0 = linkTxDropped(dev);
    tun.go();
    const flood = load('flood', NET.peer, String(NET.port), String(payload), String(z.seconds), String(z.max));
    const sent = await flood.result(false);
    await sleep(50);
    const dropped = linkTxDropped(dev) - dropped0;
    const r = await tun.result();
    return {
      value: r.seconds > 0 ? r.packets / r.seconds : 0,
      extra: {
        read: r.packets,
        sent: sent.sent,
        txDropped: dropped,
        cpuUsPerPkt: (r.cpu * 1e6) / r.packets,
        faultsPerKPkt: (r.faults * 1000) / r.packets,
      },
    };
  } finally {
    tun.child.kill('SIGKILL');
  }
}

async function txRun(variant: Variant, z: Sizes): Promise<Sample> {
  const dev = nextDev();
  const tun = tunSide(variant, ['tx', dev, NET.peer, NET.local, String(NET.port), '64', String(z.seconds), String(z.max)]);
  let sink: Proc | undefined;
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    sink = load('sink', NET.local, String(NET.port), String(z.seconds + 5));
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
        delivered: s.received,
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
  const all: Variant[] = ['C', 'node-stream', 'node-batch'];
  peerDir = o.peer;
  const withPeer: Variant[] = o.peer === undefined ? all : [...all, 'peer'];
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
  // merged again by coalesceTcp) measure lib/packet/gso.ts and lib/packet/gro.ts against the
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
  const list: CaseDef[] = [
    simple('rx 64B', withPeer, 'pkt/s', (v) => rxRun(v, 64, z)),
    simple('rx 1400B', withPeer, 'pkt/s', (v) => rxRun(v, 1400, z)),
    simple('tx 64B', all, 'pkt/s', (v) => txRun(v, z)),
    simple('echo 1 in flight', withPeer, 'rt/s', (v) => echoRun(v, 1, echoZ), { also: rtt }),
    simple('echo 32 in flight', withPeer, 'rt/s', (v) => echoRun(v, 32, echoZ), { also: rtt }),
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
        rows.push({
          case: f.name === c.name ? v.group : `${v.group} ${f.name.slice(c.name.length + 1)}`,
          variant: v.side,
          unit: f.unit,
          median: m,
          min: Math.min(...xs),
          max: Math.max(...xs),
          ratioToC: (v.side === 'C' && v.cGroup === undefined) || cMedian === 0 ? null : m / cMedian,
          speedupOverPlain: plain === 0 ? null : m / plain,
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
      `${'case'.padEnd(30)}${'variant'.padEnd(13)}${'median'.padStart(10)}  ${'range'.padEnd(18)}${'unit'.padEnd(8)}${'Node/C'.padStart(7)}${'xPlain'.padStart(7)}  details (medians)`,
    );
    headerPrinted = true;
  }
  for (const r of rows) {
    const keys = Object.keys(r.samples[0]?.extra ?? {});
    const details = keys.map((k) => `${k}=${fmt(median(r.samples.map((s) => s.extra[k])))}`).join(' ');
    console.log(
      `${r.case.padEnd(30)}${r.variant.padEnd(13)}${fmt(r.median).padStart(10)}  ${`${fmt(r.min)}..${fmt(r.max)}`.padEnd(18)}${r.unit.padEnd(8)}${(r.ratioToC === null ? '' : r.ratioToC.toFixed(2)).padStart(7)}${(r.speedupOverPlain === null ? '' : r.speedupOverPlain.toFixed(2)).padStart(7)}  ${details}`,
    );
  }
}

/** 60 s of rx flood into the Node stream reader; RSS sampled from /proc. */
async function soak(o: Options): Promise<Record<string, unknown>> {
  const seconds = o.quick ? 2 : 60;
  const dev = nextDev();
  const tun = tunSide('node-stream', ['rx', dev, String(seconds + 5), String(1e9)]);
  try {
    await tun.waitFor('ready');
    configure(dev, NET.local);
    assertRoutedInto(NET.peer, dev);
    tun.go();
    const flood = load('flood', NET.peer, String(NET.port), '1400', String(seconds), String(1e9));
    const pid = tun.child.pid!;
    const rss: number[] = [];
    const start = Date.now();
    for (let i = 0; i <= 60 && Date.now() - start < (seconds + 1) * 1000 && flood.child.exitCode === null; i++) {
      rss.push(rssKiB(pid));
      await sleep((seconds * 1000) / 12);
    }
    await flood.result(false);
    rss.push(rssKiB(pid));
    const r = await tun.result();
    const out = { seconds, packets: r.packets, rssKiB: rss, startKiB: rss[1] ?? rss[0], endKiB: rss[rss.length - 1] };
    console.log(
      `soak: ${seconds} s rx flood, ${r.packets} packets read; RSS ${out.startKiB} KiB (after warm-up) -> ${out.endKiB} KiB; samples ${rss.join(' ')}`,
    );
    return out;
  } finally {
    tun.child.kill('SIGKILL');
  }
}

/**
 * Re-runs this script in a namespace of its own (even when started inside
 * npm test's: the sysctls it sets must not leak into other tests). Returns
 * true when already there.
 */
function enterNamespace(): boolean {
  const here = readlinkSync('/proc/self/ns/net');
  if (process.env.TUNTAP_BENCH_NETNS === '1' && process.env.TUNTAP_NETNS === here && process.env.TUNTAP_OUTER_NETNS !== here) {
    return true;
  }
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'in-netns.js'), process.execPath, __filename, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, TUNTAP_BENCH_NETNS: '1' } },
  );
  process.exitCode = r.status ?? 1;
  return false;
}

function buildC(): void {
  mkdirSync(buildDir, { recursive: true });
  for (const name of ['tunref', 'load']) {
    sh('cc', '-O2', '-Wall', '-o', path.join(buildDir, name), path.join(root, 'bench', 'c', `${name}.c`));
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces, TUN devices)');
  if (!enterNamespace()) return;
  if (defaultRoutes() > 0) throw new Error('this namespace has a default route: refusing to run');
  buildC();
  // Read by every C and Node program the harness starts (bench/c/common.h, bench/worker.ts).
  process.env.TUNTAP_BENCH_WARMUP = String(o.quick ? 0 : WARMUP);
  // IPv6 off in this namespace only: router solicitations would mix into the counts.
  writeFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
  const started = Date.now();
  const results: Record<string, unknown> = {
    node: process.version,
    date: new Date().toISOString(),
    rounds: o.rounds,
    quick: o.quick,
  };
  if (o.soak) results.soak = await soak(o);
  else
    results.rows = (await suite(o)).map(({ samples, ...r }) => ({
      ...r,
      samples: samples.map((s) => ({ value: s.value, ...s.extra })),
    }));
  results.seconds = (Date.now() - started) / 1000;
  writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${o.out} (${results.seconds} s)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
