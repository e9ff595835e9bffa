// bench/udp-forward.ts: a TUN device's packets forwarded over UDP to one
// peer, by udpTunnel(), by a dgram pump on today's API (a send() per packet),
// and by C (bench/c/udppump.c: sendmmsg, and UDP_SEGMENT), alternately in one
// run. Load: `load flood` into the device; the peer: `load sink` on loopback.
// Each pump is a process of its own and reports its own CPU, per packet and
// per GB beside its rate.
//   node scripts/in-netns.js node dist/bench/udp-forward.js [--quick]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

const root = path.join(__dirname, '..', '..');
const buildDir = path.join(root, 'bench', 'build');
const quick = process.argv.includes('--quick');
const PACKETS = quick ? 20_000 : 300_000;
const ROUNDS = quick ? 1 : 3;
const PAYLOAD = 1372; // 1400-byte IP packets
const SINK_PORT = 9100;

const variants = ['C mmsg', 'C gso', 'Node tunnel', 'Node dgram'] as const;
type Variant = (typeof variants)[number];

interface Result {
  packets: number;
  seconds: number;
  cpuSeconds: number;
}

function pump(variant: Variant, dev: string, max: number): ChildProcess {
  const args = [dev, '127.0.0.1', String(SINK_PORT), String(max)];
  if (variant.startsWith('C')) return spawn(path.join(buildDir, 'udppump'), [...args, variant === 'C gso' ? 'gso' : 'mmsg']);
  const mode = variant === 'Node tunnel' ? 'tunnel' : 'dgram';
  return spawn(process.execPath, [path.join(__dirname, 'udp-pump-worker.js'), ...args, mode]);
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

async function runOnce(variant: Variant, round: number): Promise<Result> {
  const dev = `udpb${process.pid % 1000}${round}${variants.indexOf(variant)}`;
  const subnet = `10.${77 + round}.${variants.indexOf(variant)}`;
  const p = pump(variant, dev, PACKETS);
  p.stderr?.pipe(process.stderr);
  const lines = createInterface({ input: p.stdout! })[Symbol.asyncIterator]();
  const children: ChildProcess[] = [p];
  try {
    if ((await lines.next()).value !== 'ready') throw new Error(`${variant}: the pump did not start`);
    execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', dev]);
    execFileSync('ip', ['link', 'set', dev, 'up']);
    children.push(spawn(path.join(buildDir, 'load'), ['sink', '127.0.0.1', String(SINK_PORT), '120'], { stdio: 'ignore' }));
    await sinkBound();
    p.stdin!.write('go\n');
    // The flood stops at its bound or when the pump is done, whichever is first.
    const flood = spawn(
      path.join(buildDir, 'load'),
      ['flood', `${subnet}.2`, '9', String(PAYLOAD), '120', String(PACKETS * 20)],
      {
        stdio: 'ignore',
      },
    );
    children.push(flood);
    const line = await lines.next();
    if (line.done === true) throw new Error(`${variant}: the pump ended without a result`);
    return JSON.parse(line.value) as Result;
  } finally {
    for (const c of children.reverse()) await stopped(c);
  }
}

async function main(): Promise<void> {
  execFileSync('cc', ['-O2', '-Wall', '-o', path.join(buildDir, 'udppump'), path.join(root, 'bench', 'c', 'udppump.c')]);
  execFileSync('cc', ['-O2', '-Wall', '-o', path.join(buildDir, 'load'), path.join(root, 'bench', 'c', 'load.c')]);
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const results = new Map<Variant, Result[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) results.get(v)!.push(await runOnce(v, round));
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const cpuPerPacket = (r: Result): number => (r.cpuSeconds / r.packets) * 1e6;
  const cMedian = median(results.get('C mmsg')!.map(cpuPerPacket));
  console.log(`udp forward, ${PAYLOAD + 28}-byte packets, ${PACKETS} per run, ${ROUNDS} round(s)${quick ? ' (--quick)' : ''}`);
  console.log(
    `${'variant'.padEnd(14)}${'kpkt/s'.padStart(9)}${'CPU µs/pkt'.padStart(12)}${'CPU s/GB'.padStart(10)}${'x C mmsg'.padStart(10)}`,
  );
  for (const v of variants) {
    const rs = results.get(v)!;
    const rate = median(rs.map((r) => r.packets / r.seconds / 1000));
    const cpu = median(rs.map(cpuPerPacket));
    const perGb = (cpu / 1e6) * (1e9 / (PAYLOAD + 28));
    console.log(
      `${v.padEnd(14)}${rate.toFixed(0).padStart(9)}${cpu.toFixed(2).padStart(12)}${perGb.toFixed(2).padStart(10)}${(cpu / cMedian).toFixed(2).padStart(10)}`,
    );
  }
}

void main();
