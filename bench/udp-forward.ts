// bench/udp-forward.ts: a TUN device joined to one UDP peer by udpTunnel(),
// by a dgram pump on today's API (a call per packet), and by C
// (bench/c/udppump.c), alternately in one run, both ways. Out (device → UDP):
// `load flood` into the device; the peer is behind a veth whose other end
// drops every frame at once (addressed to a MAC not its own): a NIC, so the
// pump pays for its own sends and not for a receiver's, as on loopback;
// C reads and sends with sendmmsg, or with UDP_SEGMENT. In (UDP → device): `load
// ipflood` sends IP packets in datagrams from a fixed port, the pump writes
// them into the device, `load sink` behind it receives them; C takes them with
// recvmmsg and a write(2) each. Each pump is a process of its own and reports
// its own CPU, per packet and per GB beside its rate.
//   node scripts/in-netns.js node dist/bench/udp-forward.js [--quick] [--out bench/results.json] [--profile DIR]
// --out FILE: the rows go into FILE's "udp" key (the rest of FILE is kept);
// --profile DIR: the Node pumps write a V8 CPU profile each into DIR.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const root = path.join(__dirname, '..', '..');
const buildDir = path.join(root, 'bench', 'build');
const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, profile: { type: 'string' } },
});
const quick = values.quick === true;
const PACKETS = quick ? 20_000 : 300_000;
const ROUNDS = quick ? 1 : 3;
const PACKET = 1400; // IP packets of 1400 bytes, each way
const SINK_PORT = 9100;
/** Out: the peer, on the veth's subnet, at a MAC no one has. */
const NIC = { device: 'udpnic0', other: 'udpnic1', address: '10.200.0.1/24', peer: '10.200.0.2', mac: '02:00:00:00:00:02' };
/** In: the pump's UDP port, and the port its peer sends from. */
const PUMP_PORT = 9200;
const PEER_PORT = 9300;

type Direction = 'out' | 'in';
const variants: Record<Direction, string[]> = {
  out: ['C mmsg', 'C gso', 'Node tunnel', 'Node dgram'],
  in: ['C recvmmsg', 'Node tunnel', 'Node dgram'],
};

interface Result {
  packets: number;
  seconds: number;
  cpuSeconds: number;
}

function pump(direction: Direction, variant: string, dev: string, max: number): ChildProcess {
  const port = direction === 'out' ? SINK_PORT : PUMP_PORT;
  const args = [dev, direction === 'out' ? NIC.peer : '127.0.0.1', String(port), String(max)];
  if (variant.startsWith('C')) {
    return spawn(path.join(buildDir, 'udppump'), [...args, { 'C mmsg': 'mmsg', 'C gso': 'gso' }[variant] ?? 'recv']);
  }
  const mode = `${variant === 'Node tunnel' ? 'tunnel' : 'dgram'}${direction === 'in' ? '-in' : ''}`;
  const profile = values.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', values.profile];
  const worker = path.join(__dirname, 'udp-pump-worker.js');
  return spawn(process.execPath, [...profile, worker, ...args, mode, String(PEER_PORT)]);
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Waits (a bounded while) until the sink's port shows in /proc/net/udp. */
async function sinkBound(): Promise<void> {
  const port = `:${SINK_PORT.toString(16).toUpperCase().padStart(4, '0')} `;
  for (let i = 0; i < 500; i++) {
    if (readFileSync('/proc/net/udp', 'utf8').includes(port)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the sink did not bind');
}

async function runOnce(direction: Direction, variant: string, round: number): Promise<Result> {
  const index = variants[direction].indexOf(variant) + (direction === 'in' ? 10 : 0);
  const dev = `udpb${process.pid % 1000}${round}${index}`;
  const subnet = `10.${77 + round}.${index}`;
  const p = pump(direction, variant, dev, PACKETS);
  p.stderr?.pipe(process.stderr);
  const lines = createInterface({ input: p.stdout! })[Symbol.asyncIterator]();
  const children: ChildProcess[] = [p];
  const load = (...args: string[]): ChildProcess => spawn(path.join(buildDir, 'load'), args, { stdio: 'ignore' });
  try {
    if ((await lines.next()).value !== 'ready') throw new Error(`${variant}: the pump did not start`);
    execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', dev]);
    execFileSync('ip', ['link', 'set', dev, 'up']);
    if (direction === 'in') {
      children.push(load('sink', `${subnet}.1`, String(SINK_PORT), '120'));
      await sinkBound();
    }
    p.stdin!.write('go\n');
    // The flood stops at its bound or when the pump is done, whichever is first.
    const bound = String(PACKETS * 20);
    if (direction === 'out') children.push(load('flood', `${subnet}.2`, '9', String(PACKET - 28), '120', bound));
    else
      children.push(
        load('ipflood', '127.0.0.1', `${PUMP_PORT}`, `${PEER_PORT}`, `${subnet}.1`, `${SINK_PORT}`, `${PACKET}`, '120', bound),
      );
    const line = await lines.next();
    if (line.done === true) throw new Error(`${variant}: the pump ended without a result`);
    return JSON.parse(line.value) as Result;
  } finally {
    for (const c of children.reverse()) await stopped(c);
  }
}

interface Row {
  direction: Direction;
  variant: string;
  kpps: number;
  cpuMicrosPerPacket: number;
  cpuSecondsPerGB: number;
  /** CPU per packet over the C pump's: sendmmsg out, recvmmsg in. */
  ratioToC: number;
  /** Out only: over the C pump that sends with UDP_SEGMENT. */
  ratioToCGso: number | null;
  samples: Result[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuPerPacket = (r: Result): number => (r.cpuSeconds / r.packets) * 1e6;
const column = (text: string, width: number): string => text.padStart(width);

function rowsOf(direction: Direction, results: Map<string, Result[]>): Row[] {
  const cpuOf = (variant: string): number => median(results.get(variant)!.map(cpuPerPacket));
  const c = cpuOf(variants[direction][0]);
  return variants[direction].map((variant) => {
    const rs = results.get(variant)!;
    const cpu = cpuOf(variant);
    return {
      direction,
      variant,
      kpps: median(rs.map((r) => r.packets / r.seconds / 1000)),
      cpuMicrosPerPacket: cpu,
      cpuSecondsPerGB: (cpu / 1e6) * (1e9 / PACKET),
      ratioToC: cpu / c,
      ratioToCGso: direction === 'out' ? cpu / cpuOf('C gso') : null,
      samples: rs,
    };
  });
}

function print(direction: Direction, rows: Row[]): { vsC: number; dgramOverTunnel: number } {
  console.log(direction === 'out' ? 'out: device -> UDP' : 'in: UDP -> device');
  const head = ['kpkt/s', 'CPU µs/pkt', 'CPU s/GB', 'x C', ...(direction === 'out' ? ['x C gso'] : [])];
  console.log('variant'.padEnd(14) + head.map((h) => column(h, 12)).join(''));
  for (const r of rows) {
    const cells = [r.kpps.toFixed(0), r.cpuMicrosPerPacket.toFixed(2), r.cpuSecondsPerGB.toFixed(2), r.ratioToC.toFixed(2)];
    if (r.ratioToCGso !== null) cells.push(r.ratioToCGso.toFixed(2));
    console.log(r.variant.padEnd(14) + cells.map((c) => column(c, 12)).join(''));
  }
  const tunnel = rows.find((r) => r.variant === 'Node tunnel')!;
  const dgram = rows.find((r) => r.variant === 'Node dgram')!;
  const dgramOverTunnel = dgram.cpuMicrosPerPacket / tunnel.cpuMicrosPerPacket;
  console.log(
    `udpTunnel ${tunnel.ratioToC.toFixed(2)}x the C pump (target <= 1.2); ` +
      `the dgram pump ${dgramOverTunnel.toFixed(2)}x udpTunnel (target >= 2)`,
  );
  return { vsC: tunnel.ratioToC, dgramOverTunnel };
}

async function main(): Promise<void> {
  mkdirSync(buildDir, { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-o', path.join(buildDir, 'udppump'), path.join(root, 'bench', 'c', 'udppump.c')]);
  execFileSync('cc', ['-O2', '-Wall', '-o', path.join(buildDir, 'load'), path.join(root, 'bench', 'c', 'load.c')]);
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('ip', ['link', 'add', NIC.device, 'type', 'veth', 'peer', 'name', NIC.other]);
  execFileSync('ip', ['addr', 'add', NIC.address, 'dev', NIC.device]);
  for (const end of [NIC.device, NIC.other]) execFileSync('ip', ['link', 'set', end, 'up']);
  execFileSync('ip', ['neigh', 'add', NIC.peer, 'lladdr', NIC.mac, 'dev', NIC.device, 'nud', 'permanent']);
  const loadAvgAtStart = loadavg();
  const results = { out: new Map<string, Result[]>(), in: new Map<string, Result[]>() };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const direction of ['out', 'in'] as const) {
        for (const v of variants[direction]) {
          const r = await runOnce(direction, v, round);
          results[direction].set(v, [...(results[direction].get(v) ?? []), r]);
        }
      }
    }
  } finally {
    execFileSync('ip', ['link', 'del', NIC.device]);
  }
  console.log(`udp tunnel, ${PACKET}-byte IP packets, ${PACKETS} per run, ${ROUNDS} round(s)${quick ? ' (--quick)' : ''}`);
  const rows = [...rowsOf('out', results.out), ...rowsOf('in', results.in)];
  const targets = {
    out: print('out', rows.slice(0, variants.out.length)),
    in: print('in', rows.slice(variants.out.length)),
  };
  const loadAvgAtEnd = loadavg();
  const avg = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
  console.log(`load average: ${avg(loadAvgAtStart)} at start, ${avg(loadAvgAtEnd)} at end`);
  if (values.out !== undefined) {
    const out = path.resolve(values.out);
    const saved = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
    saved.udp = {
      node: process.version,
      date: new Date().toISOString(),
      case: `a TUN device and one UDP peer (out: behind a veth that drops; in: on loopback), ${PACKET}-byte IP packets`,
      packetsPerRun: PACKETS,
      rounds: ROUNDS,
      quick,
      loadAvgAtStart,
      loadAvgAtEnd,
      targets,
      rows,
    };
    writeFileSync(out, `${JSON.stringify(saved, null, 2)}\n`);
    console.log(`results: ${out} (udp)`);
  }
}

void main();
