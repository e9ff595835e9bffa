// The packet-parse bench: the 5-tuple and TCP flags of a batch of IPv4 and
// IPv6 packets (in one slab, 16-byte aligned, as readBatches hands them out),
// read through PacketViews, by hand-written byte reads, by the npm decoders
// ip-packet (IPv4 only), pcap and cap, and by C, alternately in one run, each
// in a process of its own; ns per packet of CPU time, as ratios to C and of
// the fastest npm decoder to the views.
// Decoders that do not load are skipped with the reason (pcap and cap build
// against libpcap: npm install --prefix bench).
//
//   node dist/bench/parse.js [--rounds 2000] [--repeat 5] [--quick] [--out bench/results.json]
// --out FILE: the rows go into FILE's "parse" key (the rest of FILE is kept).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PacketViews, TcpFlags, tcpPacket, udpPacket } from '../lib/packet';

const root = path.join(__dirname, '..', '..');

/** What the kernel sends most: data segments with timestamps, SYNs with every option, UDP; half IPv4, half IPv6. */
export function batch(version: 4 | 6, count: number): { slab: Buffer; d: Uint32Array } {
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const source = version === 4 ? `10.0.${i & 255}.1` : `fd00::${i.toString(16)}:1`;
    const destination = version === 4 ? '10.0.0.2' : 'fd00::2';
    if (i % 8 === 0) {
      packets.push(udpPacket({ source, destination, sourcePort: 5000 + i, destinationPort: 53, payload: Buffer.alloc(40) }));
    } else {
      const syn = i % 8 === 1;
      packets.push(
        tcpPacket({
          source,
          destination,
          sourcePort: 40000 + i,
          destinationPort: 443,
          flags: syn ? TcpFlags.SYN : TcpFlags.ACK | TcpFlags.PSH,
          timestamps: [i, i + 1],
          ...(syn ? { mss: 1460, sackPermitted: true, windowScale: 7 } : {}),
          payload: Buffer.alloc(syn ? 0 : 100),
        }),
      );
    }
  }
  const d = new Uint32Array(2 * count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    d[2 * i] = at;
    d[2 * i + 1] = packets[i].length;
    at += (packets[i].length + 15) & ~15;
  }
  const slab = Buffer.alloc(at);
  packets.forEach((p, i) => p.copy(slab, d[2 * i]));
  return { slab, d };
}

type Parse = (slab: Buffer, d: Uint32Array, count: number) => number;

/** The 5-tuple and TCP flags of the packet `views` was reset to, summed (what a flow table reads). */
export function sumFiveTuple(views: PacketViews): number {
  const { ip, tcp, udp } = views;
  let sum = ip.protocol;
  if (ip.version === 4) sum += ip.source4 + ip.destination4;
  else for (let w = 0; w < 4; w++) sum += ip.sourceWord(w) + ip.destinationWord(w);
  if (views.transport === 'tcp') sum += tcp.sourcePort + tcp.destinationPort + tcp.flags;
  else if (views.transport === 'udp') sum += udp.sourcePort + udp.destinationPort;
  return sum;
}

const throughViews = (): Parse => {
  const views = new PacketViews('tun');
  return (slab, d, count) => {
    let sum = 0;
    for (let i = 0; i < count; i++) if (views.reset(slab, d[2 * i], d[2 * i + 1])) sum += sumFiveTuple(views);
    return sum;
  };
};

/** The fields the views read, one line per packet in the format of `parse <slab> <d> dump` (bench/c/parse.c). */
export function viewsFields(slab: Buffer, d: Uint32Array, count: number): string[] {
  const v = new PacketViews('tun');
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const ok = v.reset(slab, d[2 * i], d[2 * i + 1]);
    const { ip, tcp, udp } = v;
    const ports = v.transport === 'tcp' ? tcp : v.transport === 'udp' ? udp : undefined;
    const words = [0, 1, 2, 3].map((w) => ip.sourceWord(w)).concat([0, 1, 2, 3].map((w) => ip.destinationWord(w)));
    const fields = ok
      ? [
          ip.version,
          ip.protocol,
          ...words,
          ports?.sourcePort ?? 0,
          ports?.destinationPort ?? 0,
          v.transport === 'tcp' ? tcp.flags : 0,
        ]
      : new Array<number>(13).fill(0);
    lines.push(fields.join(' '));
  }
  return lines;
}

// What a user writes by hand: the same reads, no extension headers, no checks past the lengths.
const byHand: Parse = (slab, d, count) => {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const o = d[2 * i];
    const v6 = slab[o] >> 4 === 6;
    const l4 = o + (v6 ? 40 : (slab[o] & 15) * 4);
    const proto = slab[o + (v6 ? 6 : 9)];
    if (v6) for (let w = 8; w < 40; w += 4) sum += slab.readUInt32BE(o + w);
    else sum += slab.readUInt32BE(o + 12) + slab.readUInt32BE(o + 16);
    sum += proto + slab.readUInt16BE(l4) + slab.readUInt16BE(l4 + 2);
    if (proto === 6) sum += slab[l4 + 13];
  }
  return sum;
};

/** Loads a bench-only decoder from the project's or bench/'s node_modules; the reason when neither has it. */
function loadDecoder(name: string): unknown {
  const errors: string[] = [];
  for (const from of [path.join(root, 'package.json'), path.join(root, 'bench', 'package.json')]) {
    try {
      return createRequire(from)(name) as unknown;
    } catch (error) {
      errors.push(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
    }
  }
  return new Error(errors.join('; '));
}

interface IpPacketModule {
  decode(state: { start: number; end: number; buffer: Buffer }): {
    protocol: number;
    sourceIp: string;
    destinationIp: string;
    data: Buffer;
  };
}
interface PcapTransport {
  sport: number;
  dport: number;
  flags?: object;
}
interface PcapIp {
  decode(raw: Buffer, offset: number): { saddr: object; daddr: object; payload?: PcapTransport };
}
interface CapInfo {
  info: { srcaddr: string; dstaddr: string; protocol: number; srcport: number; dstport: number; flags: number };
  offset: number;
}
interface CapModule {
  decoders: Record<'IPV4' | 'IPV6' | 'TCP' | 'UDP', (b: Buffer, offset: number) => CapInfo>;
}

// ip-packet (a compact-encoding codec) decodes the IPv4 header into an object with a payload view; ports from that.
function ipPacketParse(m: IpPacketModule): Parse {
  return (slab, d, count) => {
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const p = m.decode({ start: d[2 * i], end: d[2 * i] + d[2 * i + 1], buffer: slab });
      sum += p.protocol + p.sourceIp.length + p.destinationIp.length + p.data.readUInt16BE(0) + p.data.readUInt16BE(2);
      if (p.protocol === 6) sum += p.data[13];
    }
    return sum;
  };
}

// pcap's decoders (node_pcap) make an object per header, TCP or UDP included.
function pcapParse(version: 4 | 6, Ip: new () => PcapIp): Parse {
  return (slab, d, count) => {
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const p = new Ip().decode(slab, d[2 * i]);
      if (p.saddr !== p.daddr && p.payload !== undefined) sum += p.payload.sport + p.payload.dport;
      if (p.payload?.flags !== undefined) sum += version;
    }
    return sum;
  };
}

// cap's decoders: one for IP, then one for TCP or UDP at the offset it returns.
function capParse(version: 4 | 6, m: CapModule): Parse {
  const ip = version === 4 ? m.decoders.IPV4 : m.decoders.IPV6;
  return (slab, d, count) => {
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const p = ip(slab, d[2 * i]);
      sum += p.info.protocol + p.info.srcaddr.length + p.info.dstaddr.length;
      if (p.info.protocol === 6) {
        const t = m.decoders.TCP(slab, p.offset);
        sum += t.info.srcport + t.info.dstport + t.info.flags;
      } else if (p.info.protocol === 17) {
        const u = m.decoders.UDP(slab, p.offset);
        sum += u.info.srcport + u.info.dstport;
      }
    }
    return sum;
  };
}

/** The npm decoders that read IP `version`, by name; a skipped one maps to why. */
function decoders(version: 4 | 6): { parses: Array<[string, Parse]>; skipped: Record<string, string> } {
  const parses: Array<[string, Parse]> = [];
  const skipped: Record<string, string> = {};
  const ipPacket = loadDecoder('ip-packet');
  if (version === 6) skipped['ip-packet'] = 'reads IPv4 only';
  else if (ipPacket instanceof Error) skipped['ip-packet'] = ipPacket.message;
  else parses.push(['ip-packet (npm)', ipPacketParse(ipPacket as IpPacketModule)]);
  const pcap = loadDecoder(`pcap/decode/ipv${version}`);
  // The decoders are plain JS, but the package's main needs its native binding: load that too, so a broken build shows.
  const binding = loadDecoder('pcap');
  if (pcap instanceof Error || binding instanceof Error)
    skipped.pcap = (pcap instanceof Error ? pcap : (binding as Error)).message;
  else parses.push(['pcap (npm)', pcapParse(version, pcap as new () => PcapIp)]);
  const cap = loadDecoder('cap');
  if (cap instanceof Error) skipped.cap = cap.message;
  else parses.push(['cap (npm)', capParse(version, cap as CapModule)]);
  return { parses, skipped };
}

// process.cpuUsage counts every thread's time, the collector's too: a full collection before each
// timing leaves no work from the previous parser's garbage to the next one's figure.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function time(parse: Parse, slab: Buffer, d: Uint32Array, count: number, rounds: number): number {
  let sink = 0;
  collectGarbage();
  const start = process.cpuUsage();
  for (let r = 0; r < rounds; r++) sink += parse(slab, d, count);
  const used = process.cpuUsage(start);
  const ns = (used.user + used.system) * 1000;
  if (sink === -1) console.log(sink);
  return ns / (rounds * count);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Compiles bench/c/parse.c into build/bench/parse; returns its path. */
export function buildParseC(): string {
  const build = path.join(root, 'build', 'bench');
  mkdirSync(build, { recursive: true });
  const exe = path.join(build, 'parse');
  execFileSync('cc', ['-O2', '-Wall', '-Wno-unused-function', '-o', exe, path.join(root, 'bench', 'c', 'parse.c')]);
  return exe;
}

/** Runs the C reference on the batch: ns per packet over `rounds`, or (rounds 'dump') its fields per packet. */
export function runC(exe: string, slab: Buffer, d: Uint32Array, rounds: number | 'dump'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-parse-'));
  try {
    writeFileSync(path.join(dir, 'slab'), slab);
    writeFileSync(path.join(dir, 'd'), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    return execFileSync(exe, [path.join(dir, 'slab'), path.join(dir, 'd'), String(rounds)], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Row {
  case: string;
  variant: string;
  unit: 'ns/pkt';
  median: number;
  min: number;
  max: number;
  ratioToC: number | null;
  /** The views' row: the fastest npm decoder's median over the views' (how many times faster the views are). */
  speedupOverFastestNpm: number | null;
  samples: number[];
}

/** The JS contenders of IP `version`, by name (the npm ones end in '(npm)'); a skipped decoder maps to why. */
function contenders(version: 4 | 6): { parses: Array<[string, Parse]>; skipped: Record<string, string> } {
  const { parses, skipped } = decoders(version);
  return { parses: [['PacketViews', throughViews()], ['by hand', byHand], ...parses], skipped };
}

// One contender alone in a process: a parser timed after others would run with their type feedback
// in the functions it shares with them (Buffer methods, the loop), and they with its.
function child(name: string, version: 4 | 6, rounds: number, count: number): void {
  const found = contenders(version).parses.find(([n]) => n === name);
  if (found === undefined) throw new Error(`no parser ${name} for IPv${version}`);
  const { slab, d } = batch(version, count);
  time(found[1], slab, d, count, Math.ceil(rounds / 4));
  console.log(JSON.stringify({ nsPerPacket: time(found[1], slab, d, count, rounds) }));
}

function inChild(name: string, version: 4 | 6, rounds: number): number {
  const args = [__filename, '--child', name, '--ip-version', String(version), '--rounds', String(rounds)];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' });
  return (JSON.parse(out) as { nsPerPacket: number }).nsPerPacket;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      repeat: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      child: { type: 'string' },
      'ip-version': { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const rounds = Number(values.rounds ?? (quick ? 20 : 2000));
  const repeat = Number(values.repeat ?? (quick ? 1 : 5));
  const count = 256;
  if (values.child !== undefined) return child(values.child, values['ip-version'] === '6' ? 6 : 4, rounds, count);
  const exe = buildParseC();
  const rows: Row[] = [];
  const skippedByVersion: Record<string, Record<string, string>> = {};
  const loadAvgAtStart = loadavg();
  for (const version of [4, 6] as const) {
    const { slab, d } = batch(version, count);
    const { parses, skipped } = contenders(version);
    skippedByVersion[`IPv${version}`] = skipped;
    for (const [name, why] of Object.entries(skipped)) console.log(`IPv${version} ${name}: skipped (${why})`);
    // Each JS contender in a process of its own, C in its own; the order alternates with every repeat.
    const variants: Array<[string, () => number]> = [
      ['C', () => (JSON.parse(runC(exe, slab, d, rounds * 10)) as { nsPerPacket: number }).nsPerPacket],
      ...parses.map(([name]): [string, () => number] => [name, () => inChild(name, version, rounds)]),
    ];
    const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    for (let k = 0; k < repeat; k++) {
      const order = k % 2 === 0 ? variants : [...variants].reverse();
      for (const [name, run] of order) samples.get(name)!.push(run());
    }
    const cMedian = median(samples.get('C')!);
    const npm = [...samples].filter(([name]) => name.endsWith('(npm)')).map(([, xs]) => median(xs));
    const fastestNpm = npm.length === 0 ? 0 : Math.min(...npm);
    for (const [name, xs] of samples) {
      const m = median(xs);
      rows.push({
        case: `parse IPv${version} 5-tuple+flags`,
        variant: name,
        unit: 'ns/pkt',
        median: m,
        min: Math.min(...xs),
        max: Math.max(...xs),
        ratioToC: name === 'C' ? null : m / cMedian,
        speedupOverFastestNpm: name === 'PacketViews' && fastestNpm > 0 ? fastestNpm / m : null,
        samples: xs,
      });
      const vsNpm =
        name === 'PacketViews' && fastestNpm > 0 ? `  ${(fastestNpm / m).toFixed(1)}x faster than the fastest npm decoder` : '';
      console.log(`IPv${version} ${name.padEnd(16)} ${m.toFixed(1).padStart(8)} ns/pkt  ${(m / cMedian).toFixed(2)}x C${vsNpm}`);
    }
  }
  // The views must read what C reads for their speed to mean anything (checked after every timing:
  // the check's calls would otherwise shape how the timed loop is compiled).
  for (const version of [4, 6] as const) {
    const { slab, d } = batch(version, count);
    const c = runC(exe, slab, d, 'dump').trimEnd().split('\n');
    const mismatch = viewsFields(slab, d, count).findIndex((line, i) => line !== c[i]);
    if (mismatch >= 0) throw new Error(`IPv${version} packet ${mismatch}: views and C read different fields`);
  }
  if (values.out !== undefined) {
    const out = path.resolve(values.out);
    const results = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
    // The read-loop rows npm run bench keeps under the same key stay.
    const { readBatches } = (results.parse ?? {}) as { readBatches?: unknown };
    results.parse = {
      node: process.version,
      date: new Date().toISOString(),
      rounds,
      repeat,
      packetsPerBatch: count,
      loadAvgAtStart,
      loadAvgAtEnd: loadavg(),
      skipped: skippedByVersion,
      isolation: 'each JS parser in a process of its own, C in its own; order alternated per repeat',
      rows,
      ...(readBatches === undefined ? {} : { readBatches }),
    };
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results: ${out} (parse)`);
  }
}

if (require.main === module) main();
