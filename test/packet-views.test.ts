// The packet views on their own: build -> view gives back every field
// (fast-check), in-place rewrites keep checksums right, IPv6 extension
// chains and NDP options are walked, and malformed packets (random bytes,
// mutated real packets) never throw, never read outside the packet and
// always say why they are invalid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  PacketViews,
  TcpFlags,
  echoReply,
  ethernetFrame,
  formatIp,
  icmpPacket,
  neighborReply,
  onesComplementSum,
  parseIp,
  tcpPacket,
  udpPacket,
  type ViewReason,
} from '../lib/packet';
import { SeededRandom } from './seeded-random';

const REASONS: ViewReason[] = ['truncated', 'bad-version', 'bad-header-length', 'bad-length', 'bad-option', 'absent'];

const address = (v6: boolean): fc.Arbitrary<string> => (v6 ? fc.ipV6() : fc.ipV4());
const addresses = fc.boolean().chain((v6) => fc.tuple(fc.constant(v6), address(v6), address(v6)));

/** The canonical text of an address as the view prints it (RFC 5952). */
const canonical = (text: string): string => formatIp(parseIp(text).bytes);

test('build -> view gives back every TCP field, option and address, with valid checksums', () => {
  const views = new PacketViews();
  fc.assert(
    fc.property(
      addresses,
      fc.record({
        sourcePort: fc.integer({ min: 0, max: 0xffff }),
        destinationPort: fc.integer({ min: 0, max: 0xffff }),
        sequenceNumber: fc.integer({ min: 0, max: 0xffffffff }),
        acknowledgmentNumber: fc.integer({ min: 0, max: 0xffffffff }),
        flags: fc.integer({ min: 0, max: 0xff }),
        window: fc.integer({ min: 0, max: 0xffff }),
        ttl: fc.integer({ min: 0, max: 255 }),
        trafficClass: fc.integer({ min: 0, max: 255 }),
        mss: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
        windowScale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
        sackPermitted: fc.boolean(),
        timestamps: fc.option(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })), {
          nil: undefined,
        }),
        payload: fc.uint8Array({ maxLength: 200 }),
      }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 2 }),
      ([v6, source, destination], f, sack) => {
        const packet = tcpPacket({ source, destination, ...f, sack });
        assert.ok(views.reset(packet), views.reason);
        const { ip, tcp } = views;
        assert.equal(ip.version, v6 ? 6 : 4);
        assert.equal(ip.sourceString(), canonical(source));
        assert.equal(ip.destinationString(), canonical(destination));
        assert.equal(ip.ttl, f.ttl);
        assert.equal(ip.trafficClass, f.trafficClass);
        assert.ok(ip.headerChecksumValid());
        assert.ok(ip.payloadChecksumValid());
        assert.equal(views.transport, 'tcp');
        for (const k of ['sourcePort', 'destinationPort', 'sequenceNumber', 'acknowledgmentNumber', 'flags', 'window'] as const) {
          assert.equal(tcp[k], f[k], k);
        }
        assert.equal(tcp.mss, f.mss ?? 0);
        assert.equal(tcp.windowScale, f.windowScale ?? -1);
        assert.equal(tcp.sackPermitted, f.sackPermitted);
        assert.equal(tcp.hasTimestamps, f.timestamps !== undefined);
        assert.equal(tcp.timestampValue, f.timestamps?.[0] ?? 0);
        assert.equal(tcp.timestampEcho, f.timestamps?.[1] ?? 0);
        assert.equal(tcp.sackBlockCount, sack.length);
        sack.forEach(([l, r], i) => assert.deepEqual([tcp.sackLeft(i), tcp.sackRight(i)], [l, r]));
        assert.deepEqual(
          Buffer.from(packet.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength)),
          Buffer.from(f.payload),
        );
      },
    ),
  );
});

test('build -> view gives back UDP and ICMP fields; echoReply answers the built echo request', () => {
  const views = new PacketViews();
  fc.assert(
    fc.property(
      addresses,
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.uint8Array({ maxLength: 300 }),
      ([v6, source, destination], a, b, payload) => {
        assert.ok(views.reset(udpPacket({ source, destination, sourcePort: a, destinationPort: b, payload })), views.reason);
        assert.equal(views.transport, 'udp');
        assert.deepEqual([views.udp.sourcePort, views.udp.destinationPort, views.udp.payloadLength], [a, b, payload.length]);
        assert.ok(views.ip.payloadChecksumValid());
        const request = icmpPacket({ source, destination, type: v6 ? 128 : 8, rest: ((a << 16) | b) >>> 0, payload });
        assert.ok(views.reset(request) && views.icmp.isEchoRequest, views.reason);
        assert.deepEqual([views.icmp.identifier, views.icmp.sequence, views.icmp.payloadLength], [a, b, payload.length]);
        const reply = echoReply(request);
        assert.ok(reply !== null && views.reset(reply) && views.icmp.isEchoReply);
        assert.deepEqual([views.ip.sourceString(), views.icmp.identifier, views.icmp.sequence], [canonical(destination), a, b]);
        assert.ok(views.ip.payloadChecksumValid() && views.ip.headerChecksumValid());
      },
    ),
  );
});

test('rewriting addresses and ports in place keeps every checksum right (RFC 1624), as a full recompute says', () => {
  const views = new PacketViews();
  fc.assert(
    fc.property(
      fc.boolean().chain((v6) => fc.tuple(fc.constant(v6), address(v6), address(v6), address(v6), address(v6))),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.boolean(),
      fc.uint8Array({ maxLength: 100 }),
      ([v6, source, destination, newSource, newDestination], port, newPort, tcp, payload) => {
        const fields = { source, destination, sourcePort: port, destinationPort: 80, payload };
        const packet = tcp ? tcpPacket(fields) : udpPacket(fields);
        assert.ok(views.reset(packet));
        assert.equal(views.ip.setAddress('source', parseIp(newSource).bytes), true);
        assert.equal(views.ip.setAddress('destination', parseIp(newDestination).bytes), true);
        assert.equal(views.ip.setAddress('source', Buffer.alloc(v6 ? 8 : 2)), false, 'too few bytes');
        if (tcp) views.tcp.sourcePort = newPort;
        else views.udp.sourcePort = newPort;
        assert.ok(views.reset(packet));
        assert.ok(views.ip.headerChecksumValid(), 'IP header checksum');
        assert.ok(views.ip.payloadChecksumValid(), 'transport checksum');
        assert.deepEqual(
          [views.ip.sourceString(), views.ip.destinationString()],
          [canonical(newSource), canonical(newDestination)],
        );
        assert.equal(tcp ? views.tcp.sourcePort : views.udp.sourcePort, newPort);
        views.ip.ttl = 7;
        assert.ok(views.ip.headerChecksumValid(), 'after a TTL change');
      },
    ),
  );
});

/** An IPv6 packet with hop-by-hop, routing, fragment and destination options headers before a UDP datagram. */
function withExtensionHeaders(): Buffer {
  const udp = udpPacket({
    source: 'fd00::1',
    destination: 'fd00::2',
    sourcePort: 1000,
    destinationPort: 2000,
    payload: Buffer.from('hi'),
  });
  const hop = Buffer.from([43, 0, 5, 2, 0, 0, 1, 0]); // router alert, PadN
  const routing = Buffer.from([44, 0, 0, 0, 0, 0, 0, 0]); // type 0, 0 segments left
  const fragment = Buffer.from([60, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
  const dest = Buffer.from([17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const ext = Buffer.concat([hop, routing, fragment, dest]);
  const p = Buffer.concat([udp.subarray(0, 40), ext, udp.subarray(40)]);
  p.writeUInt16BE(udp.length - 40 + ext.length, 4);
  p[6] = 0;
  return p;
}

test('the IPv6 extension-header chain is walked to the upper layer: hop-by-hop, routing, fragment, destination options', () => {
  const p = withExtensionHeaders();
  const v = new PacketViews();
  assert.ok(v.reset(p), v.reason);
  assert.deepEqual(
    [v.ip.hopByHopOffset, v.ip.routingOffset, v.ip.fragmentHeaderOffset, v.ip.destinationOptionsOffset, v.ip.payloadOffset],
    [40, 48, 56, 64, 80],
  );
  assert.deepEqual(
    [v.ip.protocol, v.ip.identification, v.ip.isFragment, v.ip.fragmentOffset, v.ip.routingType],
    [17, 0x12345678, true, 0, 0],
  );
  assert.equal(v.transport, 'udp');
  assert.deepEqual([v.udp.sourcePort, v.udp.destinationPort], [1000, 2000]);
  // A destination options header that claims more than the packet has.
  const bad = Buffer.from(p);
  bad[65] = 9;
  assert.equal(v.reset(bad), false);
  assert.equal(v.reason, 'bad-option');
  assert.deepEqual([v.ip.valid, v.ip.protocol, v.ip.payloadOffset, v.transport], [false, 0, -1, 'none']);
});

test('a view reset after an extension-header chain or a fragment reads none of it on the next packet', () => {
  const v = new PacketViews();
  const chain = withExtensionHeaders();
  const plain = [
    udpPacket({ source: 'fd00::1', destination: 'fd00::2', sourcePort: 1, destinationPort: 2 }),
    udpPacket({ source: '10.0.0.1', destination: '10.0.0.2', sourcePort: 1, destinationPort: 2 }),
  ];
  for (const next of plain) {
    assert.ok(v.reset(chain));
    assert.ok(v.reset(next), v.reason);
    assert.deepEqual(
      [
        v.ip.hopByHopOffset,
        v.ip.routingOffset,
        v.ip.fragmentHeaderOffset,
        v.ip.destinationOptionsOffset,
        v.ip.identification === 0x12345678,
        v.ip.isFragment,
        v.ip.fragmentOffset,
        v.ip.moreFragments,
        v.ip.routingType,
        v.ip.payloadOffset,
        v.ip.headerLength,
      ],
      [-1, -1, -1, -1, false, false, 0, false, -1, v.ip.version === 6 ? 40 : 20, v.ip.version === 6 ? 40 : 20],
    );
  }
  // An IPv4 fragment's fields come from its header: offset 8 x 185 with more to come, then the last one.
  const fragment = Buffer.from(plain[1]);
  fragment.writeUInt16BE(0x2000 | 185, 6);
  assert.ok(v.reset(fragment));
  assert.deepEqual([v.ip.fragmentOffset, v.ip.moreFragments, v.ip.isFragment, v.transport], [1480, true, true, 'none']);
  fragment.writeUInt16BE(185, 6);
  assert.ok(v.reset(fragment));
  assert.deepEqual([v.ip.fragmentOffset, v.ip.moreFragments, v.ip.isFragment, v.udp.valid], [1480, false, true, false]);
  fragment.writeUInt16BE(0x2000, 6);
  assert.ok(v.reset(fragment));
  assert.deepEqual([v.ip.fragmentOffset, v.ip.moreFragments, v.ip.isFragment, v.transport], [0, true, true, 'udp']);
});

test('neighborReply answers a neighbour solicitation for its address and nothing else', () => {
  const ns = icmpPacket({
    source: 'fd00::1',
    destination: 'ff02::1:ff00:2',
    ttl: 255,
    type: 135,
    payload: Buffer.concat([Buffer.from('fd000000000000000000000000000002', 'hex'), Buffer.from([1, 1, 2, 0, 0, 0, 0, 1])]),
  });
  const frame = ethernetFrame({ destination: '33:33:ff:00:00:02', source: '02:00:00:00:00:01', etherType: 0x86dd, payload: ns });
  const reply = neighborReply(frame, 'fd00::2', '02:00:00:00:00:02');
  assert.ok(reply !== null);
  const v = new PacketViews('tap');
  assert.ok(v.reset(reply), v.reason);
  assert.deepEqual(
    [
      v.ethernet.destinationString(),
      v.ip.destinationString(),
      v.ip.ttl,
      v.icmp.type,
      v.icmp.targetAddressString(),
      v.icmp.solicitedFlag,
    ],
    ['02:00:00:00:00:01', 'fd00::1', 255, 136, 'fd00::2', true],
  );
  assert.equal(v.icmp.targetLinkLayerString(), '02:00:00:00:00:02');
  assert.ok(v.ip.payloadChecksumValid());
  assert.equal(neighborReply(frame, 'fd00::3', '02:00:00:00:00:02'), null, 'not our address');
});

/**
 * `packet` placed inside a larger buffer of other bytes, behind a proxy that
 * records any read or write outside it: what a slab holds around a packet.
 */
function guarded(packet: Uint8Array): { buffer: Uint8Array; offset: number; outside: string[] } {
  const offset = 37;
  const slab = new Uint8Array(offset + packet.length + 64).fill(0xa5);
  slab.set(packet, offset);
  const end = offset + packet.length;
  const outside: string[] = [];
  const buffer = new Proxy(slab, {
    get(target, key) {
      if (typeof key === 'string' && /^\d+$/.test(key)) {
        const i = Number(key);
        if (i < offset || i >= end) outside.push(`read ${i}`);
        return target[i];
      }
      if (key === 'subarray' || key === 'slice') {
        return (s: number, e: number) => {
          if (s < offset || e > end) outside.push(`${key}(${s}, ${e})`);
          return target[key](s, e);
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { buffer, offset, outside };
}

/** Reads every getter and argument-free method of every view (and indexed ones at 0-4); `_` names are internal. */
function readEverything(v: PacketViews): void {
  for (const view of [v, v.ethernet, v.arp, v.ip, v.tcp, v.udp, v.icmp]) {
    for (let proto = Object.getPrototypeOf(view); proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
        if (d.get !== undefined) d.get.call(view);
        else if (
          typeof d.value === 'function' &&
          !name.startsWith('_') &&
          !['constructor', 'reset', 'resetFrom', 'clear', 'setAddress', 'accept', 'invalid', 'fromIp'].includes(name)
        ) {
          for (let i = 0; i < 5; i++) (d.value as (i: number) => unknown).call(view, i);
        }
      }
    }
  }
}

function seedPackets(): Buffer[] {
  const tcp = tcpPacket({
    source: '10.0.0.1',
    destination: '10.0.0.2',
    sourcePort: 1,
    destinationPort: 2,
    mss: 1460,
    sackPermitted: true,
    timestamps: [1, 2],
    windowScale: 7,
    sack: [[1, 2]],
  });
  const tcp6 = tcpPacket({
    source: 'fd00::1',
    destination: 'fd00::2',
    sourcePort: 1,
    destinationPort: 2,
    payload: Buffer.alloc(20, 1), // NOPs: an option walk past the header would run on
  });
  const ns = icmpPacket({
    source: 'fd00::1',
    destination: 'fd00::2',
    ttl: 255,
    type: 134,
    payload: Buffer.from(
      '0000000000000000010102000000000103040000000000000000000000000000fd000000000000000000000000000000050100000000059a',
      'hex',
    ),
  });
  const eth = (etherType: number, payload: Buffer): Buffer =>
    ethernetFrame({ destination: 'ff:ff:ff:ff:ff:ff', source: '02:00:00:00:00:01', etherType, payload });
  const arp = Buffer.from('0001080006040001020000000001c0a80001000000000000c0a80002', 'hex');
  const vlan = Buffer.concat([Buffer.from('ffffffffffff020000000001810000058100000686dd', 'hex'), tcp6]);
  return [tcp, tcp6, ns, withExtensionHeaders(), eth(0x0806, arp), eth(0x0800, tcp), vlan];
}

test('malformed packets (random bytes, mutated real ones) never throw, never read outside the packet, and say why', () => {
  const random = new SeededRandom(Number(process.env.FUZZ_SEED ?? 20261208));
  const seeds = seedPackets();
  const reasons = new Set<ViewReason>();
  let invalid = 0;
  for (let round = 0; round < 10000; round++) {
    let packet: Buffer;
    const base = seeds[random.int(seeds.length)];
    if (round % 4 === 0) packet = Buffer.from(Array.from({ length: random.int(120) }, () => random.int(256)));
    else {
      packet = Buffer.from(base.subarray(0, random.int(3) === 0 ? random.int(base.length + 1) : base.length));
      for (let flips = random.int(4); flips >= 0 && packet.length > 0; flips--)
        packet[random.int(random.chance(0.5) ? Math.min(packet.length, 64) : packet.length)] = random.int(256); // headers mostly
    }
    const mode = base[0] === 0xff || (base[12] === 0x81 && round % 4 !== 0) ? 'tap' : 'tun';
    const v = new PacketViews(mode);
    const { buffer, offset, outside } = guarded(packet);
    const ok = v.reset(buffer, offset, packet.length);
    readEverything(v);
    assert.deepEqual(outside, [], `seed ${random.seed} round ${round}: ${packet.toString('hex')}`);
    if (!ok) {
      invalid++;
      assert.ok(REASONS.includes(v.reason), `reason ${v.reason}`);
      reasons.add(v.reason);
    } else assert.equal(v.reason, 'ok');
  }
  assert.ok(invalid > 100, `${invalid} invalid packets seen`);
  for (const r of ['truncated', 'bad-version', 'bad-header-length', 'bad-length', 'bad-option'] as const)
    assert.ok(reasons.has(r), `a ${r} packet`);
});

test('an invalid view reads as zero bytes: 0, false and -1 for offsets, whatever it read before', () => {
  const v = new PacketViews();
  assert.ok(v.reset(seedPackets()[0]));
  assert.equal(v.reset(Buffer.from([0x45, 0, 0])), false);
  assert.deepEqual([v.reason, v.ip.reason, v.tcp.reason], ['truncated', 'truncated', 'absent']);
  assert.deepEqual(
    [
      v.ip.source4,
      v.ip.sourceOffset,
      v.ip.payloadOffset,
      v.tcp.sourcePort,
      v.tcp.mss,
      v.tcp.windowScale,
      v.tcp.flags & TcpFlags.SYN,
    ],
    [0, -1, -1, 0, 0, -1, 0],
  );
  assert.equal(onesComplementSum(Buffer.alloc(0)), 0);
});
