// bench/tls-tunnel.ts: raw IPv6 over TLS 1.2, the way Apple devices tunnel
// to Appium, carried by appium-ios-tuntap's native forwarder (OpenSSL in C++
// threads) and by tunnel() on a TLSSocket, alternately in one run. Both talk
// to the same far end, bench/c/tls-peer.c (TLS 1.2, the CDTunnel handshake,
// its own TUN device) in a second namespace; iperf3 TCP over IPv6 goes through
// the tunnel both ways. The client's CPU (all its threads, from /proc) per GB
// that iperf3 received, beside the rate.
//   npm run bench:tls [-- --quick] [-- --rounds 3 --seconds 5]
// --out FILE: the rows go into FILE's "tls" key (the rest of FILE is kept).
// --mtu N, --only native|tunnel, --direction send|receive: one case; --profile DIR: the Node clients
// write CPU profiles (node --cpu-prof) into DIR.
// appium-ios-tuntap is a bench-only dependency (npm install --prefix bench,
// built against Debian's libssl-dev); without it, only tunnel() is measured.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { throwawayCertificate } from '../test/helpers';
import { defaultRoutes, enterNamespace } from './netns';
import { loadNative } from './tls-tunnel-worker';

const root = path.join(__dirname, '..', '..');
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    out: { type: 'string', default: path.join(root, 'bench', 'results.json') },
    mtu: { type: 'string' },
    only: { type: 'string' },
    direction: { type: 'string' },
    profile: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds ?? (values.quick ? 1 : 3));
const SECONDS = Number(values.seconds ?? (values.quick ? 2 : 5));
const MTUS = values.mtu === undefined ? [1280, 16000] : [Number(values.mtu)];
const NS_A = 'tlsbench-a';
const NS_B = 'tlsbench-b';
const VETH_A = '10.250.0.1';
const VETH_B = '10.250.0.2';
const PORT = '4433';
const CLIENT6 = 'fd00:7e5::2';
const SERVER6 = 'fd00:7e5::1';
const PEER_DEV = 'tlspeer0';

const variants = ['native', 'tunnel'] as const;
const DIRECTIONS = (['send', 'receive'] as const).filter((d) => values.direction === undefined || values.direction === d);
type Variant = (typeof variants)[number];
const LABEL: Record<Variant, string> = { native: 'appium-ios-tuntap 2.0.5', tunnel: 'tunnel()' };
type Direction = 'send' | 'receive';

interface Sample {
  variant: Variant;
  mtu: number;
  direction: Direction;
  mbitPerS: number;
  bytes: number;
  cpuSeconds: number;
  cpuSPerGB: number;
  peerCpuSPerGB: number;
  retransmits: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sh(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A child whose stdout lines can be awaited; stderr passes through. */
class Proc {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<() => void> = [];
  constructor(command: string, args: string[]) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#lines.push(line);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.child.on('exit', () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** The first line starting with `prefix`; throws after `ms` or if the child exits first. */
  async line(prefix: string, ms = 20_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.#lines.find((l) => l.startsWith(prefix));
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`${this.child.spawnargs.join(' ')} exited`);
      if (Date.now() > deadline) throw new Error(`no "${prefix}" line from ${this.child.spawnargs.join(' ')}`);
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), sleep(200)]);
    }
  }

  /** SIGTERM, then SIGKILL after a bounded wait. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    await Promise.race([once(c, 'exit'), sleep(3000)]);
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
}

const CLK_TCK = Number(sh('getconf', 'CLK_TCK'));

/** utime + stime of every thread of `pid`, in seconds. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Refuses to send unless nothing leads out of `netns` and `dst` goes into a TUN device there. */
function assertIntoTun(netns: string, dst: string): string {
  if (defaultRoutes(netns) > 0) throw new Error(`namespace ${netns} has a default route: refusing to send`);
  const [route] = JSON.parse(sh('ip', '-n', netns, '-j', '-6', 'route', 'get', dst)) as Array<{ dev?: string }>;
  const dev = route?.dev ?? '';
  const [link] = JSON.parse(sh('ip', '-n', netns, '-j', '-d', 'link', 'show', 'dev', dev)) as Array<{
    linkinfo?: { info_kind?: string };
  }>;
  if (link?.linkinfo?.info_kind !== 'tun')
    throw new Error(`${dst} routes to ${dev} in ${netns}, no TUN device: refusing to send`);
  return dev;
}

/** One iperf3 run from namespace A to the far end's address (-R: from the far end). */
async function iperf(direction: Direction): Promise<{ bytes: number; bitsPerSecond: number; retransmits: number }> {
  const args = ['netns', 'exec', NS_A, 'iperf3', '-6', '-c', SERVER6, '-t', String(SECONDS), '-J'];
  if (direction === 'receive') args.push('-R');
  const p = spawn('ip', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => p.kill('SIGKILL'), (SECONDS + 20) * 1000);
  let out = '';
  p.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await once(p, 'exit');
  clearTimeout(timer);
  const r = JSON.parse(out) as {
    error?: string;
    end?: { sum_received: { bytes: number; bits_per_second: number }; sum_sent: { retransmits?: number } };
  };
  if (r.end === undefined) throw new Error(`iperf3: ${r.error ?? 'no result'}`);
  return {
    bytes: r.end.sum_received.bytes,
    bitsPerSecond: r.end.sum_received.bits_per_second,
    retransmits: r.end.sum_sent.retransmits ?? 0,
  };
}

/** One client process, both directions: its CPU and the far end's while iperf3 runs. */
async function round(variant: Variant, mtu: number, peerExe: string, certs: { cert: string; key: string }): Promise<Sample[]> {
  const peer = new Proc('ip', [
    'netns',
    'exec',
    NS_B,
    peerExe,
    VETH_B,
    PORT,
    certs.cert,
    certs.key,
    PEER_DEV,
    CLIENT6,
    SERVER6,
    String(mtu),
  ]);
  let client: Proc | undefined;
  try {
    const peerPid = Number((await peer.line('ready')).split(' ')[1]);
    sh('ip', '-n', NS_B, 'addr', 'add', `${SERVER6}/64`, 'dev', PEER_DEV, 'nodad');
    sh('ip', '-n', NS_B, 'link', 'set', PEER_DEV, 'mtu', String(mtu), 'up');
    const worker = path.join(__dirname, 'tls-tunnel-worker.js');
    const profile = values.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(values.profile)];
    client = new Proc('ip', [
      'netns',
      'exec',
      NS_A,
      process.execPath,
      ...profile,
      worker,
      variant,
      VETH_B,
      PORT,
      certs.cert,
      certs.key,
      String(mtu),
    ]);
    const pid = Number((await client.line('ready')).split(' ')[1]);
    const handshake = await peer.line('handshake');
    if (!handshake.startsWith(`handshake mtu ${mtu} `)) throw new Error(`${variant}: ${handshake}, not MTU ${mtu}`);
    assertIntoTun(NS_A, SERVER6);
    assertIntoTun(NS_B, CLIENT6);
    // The client's address may still be coming up: a few bounded pings until one answers.
    let up = false;
    for (let i = 0; i < 20 && !up; i++) {
      up =
        spawnSync('ip', ['netns', 'exec', NS_A, 'ping', '-6', '-c', '1', '-W', '1', SERVER6], { stdio: 'ignore' }).status === 0;
    }
    if (!up) throw new Error(`${variant}: no ping through the tunnel`);
    const samples: Sample[] = [];
    for (const direction of DIRECTIONS) {
      const [cpu0, peer0] = [cpuOf(pid), cpuOf(peerPid)];
      const r = await iperf(direction);
      const [cpu, peerCpu] = [cpuOf(pid) - cpu0, cpuOf(peerPid) - peer0];
      const gb = r.bytes / 1e9;
      samples.push({
        variant,
        mtu,
        direction,
        mbitPerS: r.bitsPerSecond / 1e6,
        bytes: r.bytes,
        cpuSeconds: cpu,
        cpuSPerGB: cpu / gb,
        peerCpuSPerGB: peerCpu / gb,
        retransmits: r.retransmits,
      });
      const s = samples[samples.length - 1];
      console.log(
        `MTU ${mtu} ${direction.padEnd(7)} ${LABEL[variant].padEnd(24)} ${s.mbitPerS.toFixed(0).padStart(6)} Mbit/s  ${s.cpuSPerGB.toFixed(2)} CPU s/GB  (far end ${s.peerCpuSPerGB.toFixed(2)})`,
      );
    }
    return samples;
  } finally {
    await client?.stop();
    await peer.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function buildPeer(): string {
  const dir = path.join(root, 'build', 'bench');
  mkdirSync(dir, { recursive: true });
  const exe = path.join(dir, 'tls-peer');
  try {
    sh('cc', '-O2', '-Wall', '-Wno-unused-function', '-o', exe, path.join(root, 'bench', 'c', 'tls-peer.c'), '-lssl', '-lcrypto');
  } catch (error) {
    throw new Error(`bench/c/tls-peer.c did not build (it needs OpenSSL's headers: Debian's libssl-dev): ${String(error)}`);
  }
  return exe;
}

/** Two namespaces joined by a veth pair for the TLS connection; IPv6 addresses without DAD. */
function makeNamespaces(): void {
  for (const ns of [NS_A, NS_B]) {
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    sh('ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
  }
  sh('ip', '-n', NS_A, 'link', 'add', 'veth-a', 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', NS_B);
  sh('ip', '-n', NS_A, 'addr', 'add', `${VETH_A}/30`, 'dev', 'veth-a');
  sh('ip', '-n', NS_B, 'addr', 'add', `${VETH_B}/30`, 'dev', 'veth-b');
  sh('ip', '-n', NS_A, 'link', 'set', 'veth-a', 'up');
  sh('ip', '-n', NS_B, 'link', 'set', 'veth-b', 'up');
  for (const ns of [NS_A, NS_B])
    if (defaultRoutes(ns) > 0) throw new Error(`namespace ${ns} has a default route: refusing to run`);
}

function removeNamespaces(): void {
  for (const ns of [NS_A, NS_B]) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces, TUN devices)');
  if (!enterNamespace(__filename)) return;
  if (defaultRoutes() > 0) throw new Error('this namespace has a default route: refusing to run');
  const skipped: Record<string, string> = {};
  try {
    await loadNative();
  } catch (error) {
    skipped.native = (error as Error).message.split('\n')[0] ?? '';
    console.log(`${LABEL.native}: skipped (${skipped.native})`);
  }
  const running = variants.filter((v) => skipped[v] === undefined && (values.only === undefined || values.only === v));
  const peerExe = buildPeer();
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-tls-'));
  const loadAvgAtStart = loadavg();
  const started = Date.now();
  const samples: Sample[] = [];
  let iperfServer: Proc | undefined;
  try {
    const certs = throwawayCertificate(dir);
    makeNamespaces();
    iperfServer = new Proc('ip', ['netns', 'exec', NS_B, 'iperf3', '-s', '-6']);
    await sleep(300);
    for (const mtu of MTUS)
      for (let r = 0; r < ROUNDS; r++) for (const v of running) samples.push(...(await round(v, mtu, peerExe, certs)));
  } finally {
    await iperfServer?.stop();
    removeNamespaces();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [];
  for (const mtu of MTUS) {
    for (const direction of ['send', 'receive'] as const) {
      const of = (v: Variant): Sample[] => samples.filter((s) => s.variant === v && s.mtu === mtu && s.direction === direction);
      const summary = (v: Variant): Record<string, number> | null => {
        const xs = of(v);
        if (xs.length === 0) return null;
        const cpu = xs.map((s) => s.cpuSPerGB);
        return {
          cpuSPerGB: median(cpu),
          cpuSPerGBMin: Math.min(...cpu),
          cpuSPerGBMax: Math.max(...cpu),
          mbitPerS: median(xs.map((s) => s.mbitPerS)),
          peerCpuSPerGB: median(xs.map((s) => s.peerCpuSPerGB)),
          retransmits: median(xs.map((s) => s.retransmits)),
        };
      };
      const a = summary('native');
      const b = summary('tunnel');
      const ratio = a !== null && b !== null ? b.cpuSPerGB / a.cpuSPerGB : null;
      rows.push({ mtu, direction, native: a, tunnel: b, cpuRatioTunnelToNative: ratio, target: mtu === 1280 ? 1.0 : 1.1 });
      console.log(
        `MTU ${mtu} ${direction.padEnd(7)} tunnel()/native CPU per GB: ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`} (target <= ${mtu === 1280 ? '1.0' : '1.1'}x)`,
      );
    }
  }
  const out = path.resolve(values.out);
  const results = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  results.tls = {
    node: process.version,
    date: new Date().toISOString(),
    rounds: ROUNDS,
    secondsPerRun: SECONDS,
    quick: values.quick,
    loadAvgAtStart,
    loadAvgAtEnd: loadavg(),
    seconds: (Date.now() - started) / 1000,
    skipped,
    rows,
    samples,
  };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${out} (tls)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
