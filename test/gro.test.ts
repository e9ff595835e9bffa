// coalesceTcp on hand-built segment trains: what merges, what passes through,
// and that a merged super-packet splits back into the very same segments.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GsoType, VirtioNetFlags, coalesceTcp, parseVirtioNetHeader, splitGso } from '../lib';
import { ACK, FIN, PSH, SYN, pattern, referenceChecksum, tcpPacket, udpPacket } from './packet-builders';

function train(
  count: number,
  mss: number,
  options: { version?: 4 | 6; seq?: number; last?: number; pushLast?: boolean; sport?: number } = {},
): Buffer[] {
  const out: Buffer[] = [];
  let seq = options.seq ?? 5000;
  for (let i = 0; i < count; i++) {
    const length = i === count - 1 ? (options.last ?? mss) : mss;
    const flags = ACK | (i === count - 1 && options.pushLast ? PSH : 0);
    out.push(
      tcpPacket({ version: options.version, seq, flags, id: 200 + i, payload: pattern(length, seq), sport: options.sport }),
    );
    seq = (seq + length) >>> 0;
  }
  return out;
}

function payloadOf(packet: Buffer): Buffer {
  const ipLength = packet[0] >> 4 === 4 ? 20 : 40;
  return packet.subarray(ipLength + (packet[ipLength + 12] >> 4) * 4);
}

test('consecutive segments of one flow merge into one TCPV4 super-packet that splits back to the same segments', () => {
  const segments = train(10, 1448, { last: 500, pushLast: true });
  const out = coalesceTcp(segments);
  assert.equal(out.length, 1);
  const h = parseVirtioNetHeader(out[0]);
  assert.equal(h?.gsoType, GsoType.TCPV4);
  assert.equal(h?.gsoSize, 1448);
  assert.equal(h?.flags, VirtioNetFlags.NEEDS_CSUM);
  assert.equal(h?.csumStart, 20);
  assert.equal(h?.csumOffset, 16);
  assert.equal(h?.hdrLen, 40);
  assert.equal(out[0].readUInt16BE(10 + 2), 40 + 9 * 1448 + 500);
  const back = splitGso(out[0]);
  assert.ok(back.ok);
  assert.equal(back.packets.length, 10);
  back.packets.forEach((p, i) => {
    // Everything but the IPv4 id (counted from the first) matches the original segment.
    assert.deepEqual(payloadOf(p), payloadOf(segments[i]));
    assert.deepEqual(p.subarray(20), segments[i].subarray(20), `TCP header and checksum of segment ${i}`);
  });
});

test('IPv6 segments merge into a TCPV6 super-packet', () => {
  const out = coalesceTcp(train(4, 1220, { version: 6 }));
  assert.equal(out.length, 1);
  assert.equal(parseVirtioNetHeader(out[0])?.gsoType, GsoType.TCPV6);
  assert.equal(out[0].readUInt16BE(10 + 4), 20 + 4 * 1220);
});

test('a gap in the sequence numbers starts a new super-packet', () => {
  const a = train(3, 1000, { seq: 0 });
  const b = train(3, 1000, { seq: 3001 });
  const out = coalesceTcp([...a, ...b]);
  assert.equal(out.length, 2);
  assert.deepEqual(
    out.map((p) => parseVirtioNetHeader(p)?.gsoType),
    [GsoType.TCPV4, GsoType.TCPV4],
  );
});

test('a short segment ends a super-packet: the next full one starts another', () => {
  const a = train(3, 1000, { seq: 0, last: 400 });
  const b = train(2, 1000, { seq: 2400 });
  assert.equal(coalesceTcp([...a, ...b]).length, 2);
});

test('a segment with PSH is the last one merged', () => {
  const a = train(2, 1000, { seq: 0, pushLast: true });
  const b = train(2, 1000, { seq: 2000 });
  const out = coalesceTcp([...a, ...b]);
  assert.equal(out.length, 2);
  assert.ok((out[0][10 + 33] & PSH) !== 0);
});

test('two interleaved flows merge each into their own super-packet', () => {
  const a = train(3, 1000, { sport: 1111 });
  const b = train(3, 1000, { sport: 2222 });
  const out = coalesceTcp([a[0], b[0], a[1], b[1], a[2], b[2]]);
  assert.equal(out.length, 2);
  assert.equal(out[0].readUInt16BE(30), 1111);
  assert.equal(out[1].readUInt16BE(30), 2222);
});

test('SYN, FIN, pure ACKs, UDP and junk pass through unmerged behind a plain header', () => {
  const packets = [
    tcpPacket({ flags: SYN, payload: Buffer.alloc(0) }),
    tcpPacket({ flags: ACK, payload: Buffer.alloc(0) }),
    tcpPacket({ flags: ACK | FIN, seq: 1, payload: pattern(10) }),
    tcpPacket({ flags: ACK | FIN, seq: 11, payload: pattern(10) }),
    udpPacket(4, pattern(100)),
    Buffer.from([0x45, 0, 0]),
  ];
  const out = coalesceTcp(packets);
  assert.equal(out.length, packets.length);
  out.forEach((p, i) => {
    assert.deepEqual(p.subarray(0, 10), Buffer.alloc(10), 'all-zero header');
    assert.deepEqual(p.subarray(10), packets[i]);
  });
});

test('a segment with a bad checksum is not merged', () => {
  const segments = train(3, 1000);
  segments[1][100] ^= 0xff;
  const out = coalesceTcp(segments);
  assert.equal(out.length, 3);
  assert.ok(out.every((p) => parseVirtioNetHeader(p)?.gsoType === GsoType.NONE));
});

test('segments stop merging at maxSize', () => {
  const out = coalesceTcp(train(50, 1448), { maxSize: 10 * 1448 + 40 });
  assert.equal(out.length, 5);
  for (const p of out) assert.ok(p.length - 10 <= 10 * 1448 + 40);
  assert.equal(coalesceTcp(train(50, 1448)).length, 2, '45 segments of 1448 fit in 65535');
});

// The IP header fields wireguard-go's GRO tests vary one at a time: a
// segment whose header differs from the one before in any of them is not
// merged into its super-packet.

/** The segment with one IPv4 header byte changed and the header checksum made right again. */
function withIpv4Byte(packet: Buffer, offset: number, value: number): Buffer {
  const p = Buffer.from(packet);
  p[offset] = value;
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(referenceChecksum([p.subarray(0, 20)]), 10);
  return p;
}

for (const [what, offset, value] of [
  ['TTL', 8, 63],
  ['TOS', 1, 0x10],
  ['DF flag', 6, 0x00],
] as const) {
  test(`an IPv4 segment whose ${what} differs is not merged into the super-packet before it`, () => {
    const segments = train(2, 1000);
    const out = coalesceTcp([segments[0], withIpv4Byte(segments[1], offset, value)]);
    assert.equal(out.length, 2);
    assert.ok(out.every((p) => parseVirtioNetHeader(p)?.gsoType === GsoType.NONE));
  });
}

test('IPv4 fragments (more-fragments set) are never merged', () => {
  const segments = train(3, 1000).map((p) => withIpv4Byte(p, 6, 0x20));
  const out = coalesceTcp(segments);
  assert.equal(out.length, 3);
  out.forEach((p, i) => assert.deepEqual(p.subarray(10), segments[i]));
});

for (const [what, offset, value] of [
  ['hop limit', 7, 63],
  ['traffic class', 0, 0x61],
] as const) {
  test(`an IPv6 segment whose ${what} differs is not merged into the super-packet before it`, () => {
    const segments = train(2, 1000, { version: 6 });
    const changed = Buffer.from(segments[1]);
    changed[offset] = value; // not in the TCP pseudo-header: the checksum still holds
    assert.equal(coalesceTcp([segments[0], changed]).length, 2);
  });
}

test('PSH ends each flow of interleaved IPv4 and IPv6 flows, and the next segments start new super-packets', () => {
  const v4 = [...train(2, 1000, { seq: 1, pushLast: true }), ...train(1, 1000, { seq: 2001 })];
  const v6 = [...train(2, 1000, { seq: 1, pushLast: true, version: 6 }), ...train(1, 1000, { seq: 2001, version: 6 })];
  const out = coalesceTcp([v4[0], v4[1], v6[0], v6[1], v4[2], v6[2]]);
  assert.deepEqual(
    out.map((p) => [parseVirtioNetHeader(p)?.gsoType, p.length - 10]),
    [
      [GsoType.TCPV4, 40 + 2000],
      [GsoType.TCPV6, 60 + 2000],
      [GsoType.NONE, 40 + 1000],
      [GsoType.NONE, 60 + 1000],
    ],
  );
});

test('segments out of sequence are not reordered: each ends its flow super-packet, and they go out as they came', () => {
  const [s0, s1, s2, s3] = train(4, 1000, { seq: 0 });
  const shuffled = [s0, s2, s1, s3];
  const out = coalesceTcp(shuffled);
  assert.equal(out.length, 4);
  out.forEach((p, i) => {
    assert.equal(parseVirtioNetHeader(p)?.gsoType, GsoType.NONE);
    assert.deepEqual(p.subarray(10), shuffled[i]);
  });
  // In sequence again after the reordering, the segments merge again.
  const more = train(3, 1000, { seq: 4000 });
  assert.deepEqual(
    coalesceTcp([s0, s2, s1, s3, ...more]).map((p) => split1(p).length),
    [1, 1, 1, 4],
  );
});

test('a packet of the flow that cannot merge ends its super-packet: no later segment overtakes it', () => {
  const [s0, s1, s2] = train(3, 1000, { seq: 0 });
  // A window update: a pure ACK of the same flow between two data segments.
  const ack = tcpPacket({ flags: ACK, seq: 1000, window: 900, payload: Buffer.alloc(0) });
  const out = coalesceTcp([s0, s1, ack, s2]);
  assert.equal(out.length, 3);
  assert.deepEqual(split1(out[0]), [s0, s1]);
  assert.deepEqual(out[1].subarray(10), ack);
  assert.deepEqual(out[2].subarray(10), s2);
});

function split1(packet: Buffer): Buffer[] {
  const r = splitGso(packet);
  assert.ok(r.ok);
  return r.packets;
}
