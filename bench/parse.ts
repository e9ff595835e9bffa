// The packet-parse bench: the 5-tuple and TCP flags of a batch of IPv4 and
// IPv6 packets (in one slab, 16-byte aligned, as readBatches hands them out),
// read through PacketViews, by hand-written byte reads, by the npm decoder
// ip-packet (IPv4 only) and by C, alternately in one run; ns per packet.
//
//   node dist/bench/parse.js [--rounds 2000] [--repeat 5]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PacketViews, TcpFlags, tcpPacket, udpPacket } from '../lib/packet';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '2000' }, repeat: { type: 'string', default: '5' } },
});
const rounds = Number(values.rounds);
const repeat = Number(values.repeat);

/** What the kernel sends most: data segments with timestamps, SYNs with every option, UDP; half IPv4, half IPv6. */
function batch(version: 4 | 6, count: number): { slab: Buffer; d: Uint32Array } {
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

const views = new PacketViews('tun');
const throughViews: Parse = (slab, d, count) => {
  let sum = 0;
  const { ip, tcp, udp } = views;
  for (let i = 0; i < count; i++) {
    if (!views.reset(slab, d[2 * i], d[2 * i + 1])) continue;
    if (ip.version === 4) sum += ip.source4 + ip.destination4;
    else for (let w = 0; w < 4; w++) sum += ip.sourceWord(w) + ip.destinationWord(w);
    sum += ip.protocol;
    if (views.transport === 'tcp') sum += tcp.sourcePort + tcp.destinationPort + tcp.flags;
    else if (views.transport === 'udp') sum += udp.sourcePort + udp.destinationPort;
  }
  return sum;
};

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

// ip-packet (a compact-encoding codec) decodes the IPv4 header into an object with a payload view; ports from that.
const throughIpPacket: Parse = (slab, d, count) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a bench-only dev dependency
  const ipPacket = require('ip-packet') as {
    decode(state: { start: number; end: number; buffer: Buffer }): {
      protocol: number;
      sourceIp: string;
      destinationIp: string;
      data: Buffer;
    };
  };
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const p = ipPacket.decode({ start: d[2 * i], end: d[2 * i] + d[2 * i + 1], buffer: slab });
    sum += p.protocol + p.sourceIp.length + p.destinationIp.length + p.data.readUInt16BE(0) + p.data.readUInt16BE(2);
    if (p.protocol === 6) sum += p.data[13];
  }
  return sum;
};

function time(parse: Parse, slab: Buffer, d: Uint32Array, count: number): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) sink += parse(slab, d, count);
  const ns = Number(process.hrtime.bigint() - start);
  if (sink === -1) console.log(sink);
  return ns / (rounds * count);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function main(): void {
  const root = path.join(__dirname, '..', '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-parse-'));
  try {
    const build = path.join(root, 'build', 'bench');
    mkdirSync(build, { recursive: true });
    const exe = path.join(build, 'parse');
    execFileSync('cc', ['-O2', '-Wall', '-Wno-unused-function', '-o', exe, path.join(root, 'bench', 'c', 'parse.c')]);
    for (const version of [4, 6] as const) {
      const { slab, d } = batch(version, 256);
      writeFileSync(path.join(dir, 'slab'), slab);
      writeFileSync(path.join(dir, 'd'), Buffer.from(d.buffer));
      const variants: Array<[string, () => number]> = [
        [
          'C',
          () =>
            (
              JSON.parse(
                execFileSync(exe, [path.join(dir, 'slab'), path.join(dir, 'd'), String(rounds * 10)], { encoding: 'utf8' }),
              ) as { nsPerPacket: number }
            ).nsPerPacket,
        ],
        ['PacketViews', () => time(throughViews, slab, d, 256)],
        ['by hand', () => time(byHand, slab, d, 256)],
        ...(version === 4 ? [['ip-packet (npm)', () => time(throughIpPacket, slab, d, 256)] as [string, () => number]] : []),
      ];
      const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
      for (let k = 0; k < repeat; k++) for (const [name, run] of variants) samples.get(name)!.push(run());
      const c = median(samples.get('C')!);
      for (const [name, xs] of samples) {
        console.log(
          `IPv${version} ${name.padEnd(16)} ${median(xs).toFixed(1).padStart(8)} ns/pkt  ${(median(xs) / c).toFixed(2)}x C`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
