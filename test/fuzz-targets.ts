// The fuzzer's inputs and checks: seeded, so any failure is reproduced by its
// (seed, iteration) alone. Each iteration builds a well-formed input for one
// target (a netlink datagram, an IP packet behind a virtio_net_hdr, an
// Ethernet frame with ARP, a run of TCP segments), mutates it, and runs the
// target twice: on a view into memory padded with 0x00 and with 0xff. What it
// checks:
// - nothing throws (these parsers promise never to; a library argument error
//   would be a bug too, as every argument here is of the right type);
// - no out-of-range read: the two runs agree (a read past the view's end
//   would see the padding), and no NaN or undefined leaks into a result;
// - no call runs without end: the runner's watchdog (fuzz-runner.ts) stops
//   an iteration that makes no progress for a generous while. A call's time
//   is never compared with a bound: a loaded machine makes a fine input slow.
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, arpReply, parseArp, parseEthernet } from '../lib/packet/ethernet';
import { coalesce, coalesceTcp } from '../lib/packet/gro';
import { splitGso, transportHeaders } from '../lib/packet/gso';
import { NetlinkClient, type NetlinkTransport } from '../lib/netlink/client';
import {
  IFA,
  IFLA,
  NLMSG,
  NLM_F,
  RTA,
  RTM,
  attr,
  decodeDone,
  decodeError,
  encodeMessage,
  ifaddrmsg,
  ifinfomsg,
  parseAttributes,
  parseDatagram,
  rtmsg,
} from '../lib/netlink/codec';
import { decodeAddress, decodeLink, decodeRoute, linkFamily } from '../lib/netlink/decode';
import { ipVersion, onesComplementSum } from '../lib/packet/ip';
import { echoReply } from '../lib/packet/responders';
import { pcapRecord } from '../lib/packet/pcap';
import { GsoType, parseVirtioNetHeader } from '../lib/packet/virtio-net';
import { ACK, PSH, asSuperPacket, tcpPacket, udpDatagram, udpPacket } from './packet-builders';
import { SeededRandom } from './seeded-random';

/** The PRNG of one iteration, from the run's seed and the iteration number. */
export function iterationRandom(seed: number, iteration: number): SeededRandom {
  return new SeededRandom(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(iteration + 1, 0xc2b2ae35));
}

const INTERESTING_U32 = [
  0, 1, 3, 4, 15, 16, 17, 20, 0x7f, 0x80, 0xff, 0x100, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffc, 0xfffffffd,
  0xffffffff,
];

/** Mutates a copy of `input`: bit flips, interesting values in length fields, cuts, growth, splices. */
export function mutate(r: SeededRandom, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = r.chance(0.2) ? 0 : 1 + r.int(4);
  for (let i = 0; i < rounds; i++) {
    switch (r.int(7)) {
      case 0:
        if (b.length > 0) b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1:
        if (b.length > 0) b[r.int(b.length)] = r.pick([0, 1, 0x7f, 0x80, 0xff, r.u32() & 0xff]);
        break;
      case 2:
        if (b.length >= 2) {
          const at = r.int(b.length - 1);
          const v = r.pick(INTERESTING_U32) & 0xffff;
          if (r.chance(0.5)) b.writeUInt16LE(v, at);
          else b.writeUInt16BE(v, at);
        }
        break;
      case 3:
        if (b.length >= 4) {
          const at = r.int(b.length - 3);
          const v = r.pick(INTERESTING_U32);
          if (r.chance(0.5)) b.writeUInt32LE(v, at);
          else b.writeUInt32BE(v, at);
        }
        break;
      case 4:
        b = b.subarray(0, r.int(b.length + 1));
        break;
      case 5:
        b = Buffer.concat([b, r.bytes(r.int(64))]);
        break;
      default:
        if (b.length > 1) {
          const from = r.int(b.length);
          const chunk = b.subarray(from, from + r.int(b.length - from + 1));
          const at = r.int(b.length);
          b = Buffer.concat([b.subarray(0, at), chunk, b.subarray(at)]);
        }
    }
  }
  return b;
}

// ---- well-formed inputs ------------------------------------------------------

const PORT = 777;

function netlinkMessage(r: SeededRandom, seq: number): Buffer {
  const flags = r.pick([0, NLM_F.MULTI, NLM_F.MULTI | NLM_F.DUMP_INTR, NLM_F.CAPPED | NLM_F.ACK_TLVS, NLM_F.ACK_TLVS]);
  let m: Buffer;
  switch (r.int(6)) {
    case 0:
      m = encodeMessage(RTM.NEWLINK, flags, seq, ifinfomsg(r.pick([0, 10]), 1 + r.int(100), r.u32()), [
        attr.string(IFLA.IFNAME, `l${r.int(1000)}`),
        attr.u32(IFLA.MTU, r.u32()),
        attr.bytes(IFLA.ADDRESS, r.bytes(r.pick([0, 6, 20]))),
        attr.bytes(IFLA.STATS64, r.bytes(r.pick([64, 8 * 24]))),
        attr.bytes(IFLA.STATS, r.bytes(32)),
        attr.bytes(IFLA.OPERSTATE, r.bytes(1)),
      ]);
      break;
    case 1: {
      const v6 = r.chance(0.5);
      const size = v6 ? 16 : 4;
      m = encodeMessage(
        r.pick([RTM.NEWADDR, RTM.DELADDR]),
        flags,
        seq,
        ifaddrmsg(v6 ? 10 : 2, r.int(129), r.int(256), r.int(256), 1 + r.int(100)),
        [
          attr.bytes(IFA.LOCAL, r.bytes(size)),
          attr.bytes(IFA.ADDRESS, r.bytes(size)),
          attr.string(IFA.LABEL, 'eth0:1'),
          attr.u32(IFA.FLAGS, r.u32()),
        ],
      );
      break;
    }
    case 2: {
      const v6 = r.chance(0.5);
      const size = v6 ? 16 : 4;
      m = encodeMessage(
        r.pick([RTM.NEWROUTE, RTM.DELROUTE]),
        flags,
        seq,
        rtmsg({
          family: v6 ? 10 : 2,
          dstLength: r.int(129),
          table: r.int(256),
          protocol: r.int(256),
          scope: r.int(256),
          type: r.int(20),
        }),
        [
          attr.bytes(RTA.DST, r.bytes(size)),
          attr.u32(RTA.OIF, r.u32()),
          attr.bytes(RTA.GATEWAY, r.bytes(size)),
          attr.u32(RTA.PRIORITY, r.u32()),
          attr.u32(RTA.TABLE, r.u32()),
          attr.bytes(RTA.PREFSRC, r.bytes(size)),
        ],
      );
      break;
    }
    case 3: {
      const echoed = encodeMessage(RTM.NEWADDR, NLM_F.REQUEST, seq, Buffer.alloc(r.int(3) * 8));
      const body = Buffer.concat([Buffer.from(new Int32Array([-r.int(140)]).buffer), echoed]);
      m = encodeMessage(NLMSG.ERROR, flags, seq, body, [attr.string(1, 'the kernel says no')]);
      break;
    }
    case 4:
      m = encodeMessage(NLMSG.DONE, NLM_F.MULTI, seq, Buffer.from(new Int32Array([-r.int(3)]).buffer));
      break;
    default:
      m = encodeMessage(r.pick([NLMSG.NOOP, NLMSG.OVERRUN, 99]), flags, seq, r.bytes(r.int(40)));
  }
  if (r.chance(0.8)) Buffer.from(new Uint32Array([PORT]).buffer).copy(m, 12);
  return m;
}

function netlinkDatagram(r: SeededRandom, seqs: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) parts.push(netlinkMessage(r, seqs.length > 0 && r.chance(0.8) ? r.pick(seqs) : r.u32()));
  return Buffer.concat(parts);
}

/** Packets, each behind its 16-bit length, in one buffer the mutator can work on. */
function lengthPrefixed(packets: Buffer[]): Buffer {
  return Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p]));
}

function unprefixed(input: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  for (let at = 0; at + 2 <= input.length;) {
    const n = input.readUInt16BE(at);
    packets.push(input.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  return packets;
}

function ipPacket(r: SeededRandom): Buffer {
  const version = r.pick([4, 6] as const);
  const payload = r.bytes(r.int(r.chance(0.2) ? 3000 : 200));
  if (r.chance(0.7)) {
    return tcpPacket({
      version,
      payload,
      seq: r.u32(),
      ack: r.u32(),
      flags: r.pick([ACK, ACK | PSH, r.u32() & 0xff]),
      options: r.chance(0.3) ? r.bytes(4 * r.int(4)) : undefined,
    });
  }
  return udpPacket(version, payload, r.int(0x10000));
}

function offloadPacket(r: SeededRandom): Buffer {
  const packet = ipPacket(r);
  if (r.chance(0.2)) return Buffer.concat([Buffer.alloc(10), packet]);
  const gso = r.pick([GsoType.NONE, GsoType.TCPV4, GsoType.TCPV6, GsoType.UDP_L4, GsoType.UDP, 0x81, 7]);
  return asSuperPacket(packet, gso, r.pick([0, 1, 7, 536, 1448, 0xffff, r.int(3000)]));
}

function ethernetArp(r: SeededRandom): Buffer {
  const arp = Buffer.alloc(28);
  arp.writeUInt16BE(1, 0);
  arp.writeUInt16BE(ETHERTYPE_IPV4, 2);
  arp[4] = 6;
  arp[5] = 4;
  arp.writeUInt16BE(r.pick([1, 2, r.int(0x10000)]), 6);
  r.bytes(6).copy(arp, 8);
  Buffer.from([10, 0, 0, r.int(4)]).copy(arp, 14);
  Buffer.from([10, 0, 0, 2]).copy(arp, 24);
  const header = Buffer.concat([r.bytes(12), Buffer.from([ETHERTYPE_ARP >> 8, ETHERTYPE_ARP & 0xff])]);
  return Buffer.concat([header, arp, r.bytes(r.int(20))]);
}

function icmpEcho(r: SeededRandom): Buffer {
  if (r.chance(0.5)) {
    const p = Buffer.alloc(28 + r.int(64));
    p[0] = 0x45;
    p.writeUInt16BE(p.length, 2);
    p[9] = 1;
    p[20] = 8;
    return p;
  }
  const p = Buffer.alloc(48 + r.int(64));
  p[0] = 0x60;
  p.writeUInt16BE(p.length - 40, 4);
  p[6] = 58;
  p[40] = 128;
  return p;
}

// ---- checking one call --------------------------------------------------------

/** A stable text of a result, with buffers hashed and every NaN or undefined in it named. */
export function fingerprint(value: unknown, anomalies: string[], path = '$'): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) anomalies.push(`${path} is ${value}`);
    return String(value);
  }
  if (typeof value === 'string') {
    if (value.includes('NaN') || value.includes('undefined')) anomalies.push(`${path} reads '${value.slice(0, 60)}'`);
    return JSON.stringify(value);
  }
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) {
    let h = 0x811c9dc5;
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value[i], 0x01000193);
    return `bytes(${value.length}:${(h >>> 0).toString(16)})`;
  }
  if (value instanceof Map) return fingerprint([...value.entries()], anomalies, path);
  if (Array.isArray(value)) {
    return `[${value
      .map((v, i) => {
        if (v === undefined) anomalies.push(`${path}[${i}] is undefined`);
        return fingerprint(v, anomalies, `${path}[${i}]`);
      })
      .join(',')}]`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return `{${entries.map(([k, v]) => `${k}:${fingerprint(v, anomalies, `${path}.${k}`)}`).join(',')}}`;
  }
  return typeof value;
}

/** One target: a name, a maker of well-formed inputs, and the calls to make on an input. */
interface Target {
  name: string;
  make(r: SeededRandom): Buffer;
  run(input: Buffer, r: SeededRandom): unknown;
}

/** A transport that takes requests and never answers by itself. */
class SilentTransport implements NetlinkTransport {
  readonly portId = PORT;
  readonly seqs: number[] = [];
  send(request: Uint8Array): number {
    this.seqs.push(parseDatagram(Buffer.from(request)).messages[0].seq);
    return request.length;
  }
  ref(): void {}
  unref(): void {}
  close(): void {}
}

function decodeEverything(datagram: Buffer): unknown {
  const parsed = parseDatagram(datagram);
  return {
    malformed: parsed.malformed?.reason,
    messages: parsed.messages.map((m) => ({
      type: m.type,
      flags: m.flags,
      seq: m.seq,
      family: linkFamily(m),
      error: decodeError(m),
      done: decodeDone(m),
      link: decodeLink(m),
      address: decodeAddress(m),
      route: decodeRoute(m),
      attributes: parseAttributes(m.payload, 0),
    })),
  };
}

export const TARGETS: readonly Target[] = [
  { name: 'netlink decoder', make: (r) => netlinkDatagram(r, []), run: (input) => decodeEverything(input) },
  {
    name: 'netlink client',
    make: (r) => netlinkDatagram(r, []),
    run: (input, r) => {
      // A dump and a change in flight; the datagram (mutated, split in two)
      // may answer either, both, or be a notification.
      const events: unknown[] = [];
      const transport = new SilentTransport();
      const client = new NetlinkClient(transport, {
        onMessage: (m, reply) => events.push([m.type, reply]),
        onTrouble: (e, s, d) => events.push([e, s, d ?? null]),
      });
      const outcomes: unknown[] = [];
      const note = (p: Promise<unknown>): void => {
        p.then(
          (reply) => outcomes.push(reply),
          (error: { errno?: number }) => outcomes.push(error.errno),
        );
      };
      note(
        client.request({ type: RTM.GETLINK, flags: NLM_F.DUMP, fixed: ifinfomsg(0, 0) }, (errno) =>
          Object.assign(new Error('x'), { errno }),
        ),
      );
      note(
        client.request({ type: RTM.SETLINK, flags: 0, fixed: ifinfomsg(0, 1) }, (errno) =>
          Object.assign(new Error('x'), { errno }),
        ),
      );
      const replay = netlinkDatagram(r, transport.seqs);
      const cut = r.int(input.length + 1);
      const datagrams = [input.subarray(0, cut), input.subarray(cut), replay];
      client.receive(
        Buffer.concat(datagrams),
        datagrams.map((d) => d.length),
      );
      client.trouble(r.pick([105, 90, 74]), 'recv');
      client.close();
      return events;
    },
  },
  {
    name: 'virtio-net header and splitGso',
    make: offloadPacket,
    run: (input) => [parseVirtioNetHeader(input), parseVirtioNetHeader(input, 12), splitGso(input), splitGso(input, 12)],
  },
  {
    name: 'coalesceTcp',
    make: (r) => {
      // Consecutive segments of one flow, each mutated or not, length-prefixed.
      const payload = r.bytes(1 + r.int(4000));
      const mss = 1 + r.int(1500);
      const base = r.u32();
      const parts: Buffer[] = [];
      for (let at = 0; at < payload.length; at += mss) {
        const seg = tcpPacket({
          version: r.pick([4, 6] as const),
          seq: (base + at) >>> 0,
          payload: payload.subarray(at, at + mss),
        });
        parts.push(seg);
      }
      return lengthPrefixed(parts);
    },
    run: (input) => {
      const packets = unprefixed(input);
      return [
        coalesceTcp(packets),
        coalesceTcp(packets, { verifyChecksums: false, maxSize: 3000 }),
        packets.map((p) => transportHeaders(p)),
      ];
    },
  },
  {
    name: 'coalesce with udp',
    make: (r) => {
      // Datagrams of two flows, mostly of one size, length-prefixed.
      const version = r.pick([4, 6] as const);
      const size = 1 + r.int(1500);
      const parts: Buffer[] = [];
      for (let i = r.int(80); i >= 0; i--) {
        const payload = r.bytes(r.chance(0.9) ? size : r.int(2000));
        parts.push(udpDatagram({ version, payload, id: i, sport: r.pick([4000, 4002]) }));
      }
      return lengthPrefixed(parts);
    },
    run: (input) => {
      const packets = unprefixed(input);
      const merged = [
        ...coalesce(packets, { udp: true }),
        ...coalesce(packets, { udp: true, verifyChecksums: false, maxSize: 3000 }),
      ];
      // What coalesce makes, splitGso must take apart.
      return [merged, merged.map((p) => splitGso(p))];
    },
  },
  {
    name: 'Ethernet and ARP',
    make: ethernetArp,
    run: (input) => [parseEthernet(input), parseArp(input.subarray(14)), arpReply(input, '10.0.0.2', '02:00:00:00:00:02')],
  },
  {
    name: 'IP helpers and pcap',
    make: (r) => (r.chance(0.5) ? icmpEcho(r) : ipPacket(r)),
    run: (input) => [ipVersion(input), echoReply(input), onesComplementSum(input), pcapRecord(input, 1234.5, 100)],
  },
];

export interface FuzzFailure {
  seed: number;
  iteration: number;
  target: string;
  problem: string;
  /** The input, hex, so that a failure can be kept as a regression test. */
  input: string;
}

/** A view of `input` inside memory padded on both sides with `fill`. */
function padded(input: Buffer, fill: number): Buffer {
  const memory = Buffer.alloc(input.length + 64, fill);
  input.copy(memory, 32);
  return memory.subarray(32, 32 + input.length);
}

/** Runs iteration `iteration` of run `seed`; a failure, or undefined when every check held. */
export function fuzzOne(seed: number, iteration: number): FuzzFailure | undefined {
  const r = iterationRandom(seed, iteration);
  const target = TARGETS[iteration % TARGETS.length];
  const input = r.chance(0.05) ? r.bytes(r.int(200)) : mutate(r, target.make(r));
  const runSeed = r.u32();
  const fail = (problem: string): FuzzFailure => ({
    seed,
    iteration,
    target: target.name,
    problem,
    input: input.toString('hex'),
  });
  const prints: string[] = [];
  for (const fill of [0x00, 0xff]) {
    const anomalies: string[] = [];
    let result: unknown;
    try {
      result = target.run(padded(input, fill), new SeededRandom(runSeed));
    } catch (error) {
      return fail(
        `threw ${error instanceof Error ? `${error.name} (${(error as { code?: string }).code ?? 'no code'}): ${error.message}` : String(error)}`,
      );
    }
    prints.push(fingerprint(result, anomalies));
    if (anomalies.length > 0) return fail(`result holds ${anomalies.slice(0, 3).join('; ')}`);
  }
  if (prints[0] !== prints[1]) return fail('the result depends on the bytes around the input: a read beyond its end');
  return undefined;
}
