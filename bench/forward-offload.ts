// Gbit/s of a TCP transfer between two network namespaces through two TUN
// devices joined by a forwarder on the public API, with offloads and without,
// alternated in one run (figures drift between runs; compare within one).
//
//   npm run build && node scripts/in-netns.js node dist/bench/forward-offload.js [MB per transfer] [rounds]
//
// Modes: plain (no vnet header, MTU-sized packets), offload (TSO on both
// devices, super-packets forwarded as read), split (TSO on the reading side,
// super-packets cut into MTU-sized segments in TypeScript for a plain device),
// split+coalesce (cut, then merged again for an offload device).
import { execFileSync } from 'node:child_process';
import { coalesceTcp, splitGso, withVirtioNetHeader, type TunDeviceOptions } from '../lib';
import { netnsReady } from '../test/helpers';
import { forward, netnsPair, tcpTransfer } from '../test/netns-pair';

interface Mode {
  name: string;
  a: TunDeviceOptions;
  b: TunDeviceOptions;
  aToB?: (p: Buffer) => Iterable<Buffer>;
  bToA?: (p: Buffer) => Iterable<Buffer>;
}

const splitOrDrop = (p: Buffer): Buffer[] => {
  const r = splitGso(p);
  return r.ok ? r.packets : [];
};

const modes: Mode[] = [
  { name: 'plain', a: {}, b: {} },
  { name: 'offload', a: { offload: true }, b: { offload: true } },
  { name: 'split', a: { offload: { tso: true } }, b: {}, aToB: splitOrDrop, bToA: (p) => [withVirtioNetHeader(p)] },
  { name: 'split+coalesce', a: { offload: { tso: true } }, b: { offload: { tso: true } }, aToB: (p) => coalesceTcp(splitOrDrop(p)) },
];

interface Result {
  gbps: number;
  reads: number;
  /** Forwarder CPU time over transfer time. */
  cpu: number;
  /** Forwarder CPU seconds per GiB moved: steadier than Gbit/s on a shared machine. */
  cpuPerGiB: number;
  /** Packets the sending side's device dropped because its ring was full (TX-dropped). */
  dropped: number;
}

function txDropped(ns: string, device: string): number {
  const out = execFileSync('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'dev', device], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ stats64: { tx: { dropped: number } } }>)[0].stats64.tx.dropped;
}

async function once(mode: Mode, bytes: number): Promise<Result> {
  const pair = await netnsPair(mode.a, mode.b);
  try {
    let reads = 0;
    forward(pair.a, pair.b, (p) => {
      reads++;
      return mode.aToB ? mode.aToB(p) : [p];
    });
    forward(pair.b, pair.a, mode.bToA);
    const cpu0 = process.cpuUsage();
    const r = await tcpTransfer(pair, bytes, 120_000);
    const cpu = process.cpuUsage(cpu0);
    if (r.receivedHash !== r.sentHash || r.receivedBytes !== bytes) throw new Error(`${mode.name}: the bytes differ`);
    return {
      gbps: (bytes * 8) / r.seconds / 1e9,
      reads,
      cpu: (cpu.user + cpu.system) / 1e6 / r.seconds,
      cpuPerGiB: (cpu.user + cpu.system) / 1e6 / (bytes / 2 ** 30),
      dropped: txDropped(pair.nsA, pair.a.name),
    };
  } finally {
    await pair.close();
  }
}

async function main(): Promise<void> {
  const reason = netnsReady();
  if (reason !== undefined) throw new Error(`cannot run: ${reason}`);
  const mb = Number(process.argv[2] ?? 64);
  const rounds = Number(process.argv[3] ?? 3);
  const results = new Map<string, Result[]>(modes.map((m) => [m.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const mode of modes) {
      const r = await once(mode, mb << 20);
      results.get(mode.name)!.push(r);
      console.log(
        `round ${round} ${mode.name.padEnd(15)} ${r.gbps.toFixed(2)} Gbit/s  ${r.reads} reads, ` +
          `forwarder CPU ${(r.cpu * 100).toFixed(0)}% (${r.cpuPerGiB.toFixed(2)} s/GiB), ${r.dropped} TX-dropped on the sending side`,
      );
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const base = median(results.get('plain')!.map((r) => r.gbps));
  const baseCpu = median(results.get('plain')!.map((r) => r.cpuPerGiB));
  console.log(`\n${mb} MB per transfer, ${rounds} rounds, median:`);
  for (const [name, rs] of results) {
    const g = median(rs.map((r) => r.gbps));
    const c = median(rs.map((r) => r.cpuPerGiB));
    console.log(`${name.padEnd(15)} ${g.toFixed(2)} Gbit/s  (${(g / base).toFixed(2)}x plain), forwarder ${c.toFixed(2)} CPU s/GiB (${(baseCpu / c).toFixed(2)}x less)`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
