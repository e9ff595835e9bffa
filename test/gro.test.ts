// coalesceTcp on hand-built segment trains: what merges, what passes through,
// and that a merged super-packet splits back into the very same segments.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GsoType, VirtioNetFlags, coalesceTcp, parseVirtioNetHeader, splitGso } from '../lib';
import { ACK, FIN, PSH, SYN, pattern, tcpPacket, udpPacket } from './packet-builders';

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
