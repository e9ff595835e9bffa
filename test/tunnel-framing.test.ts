// lib/tunnel/framing.ts: splitting a byte stream back into the packets packed
// into it, whatever the chunking, and skipping garbage by the documented rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4UdpPacket } from '../lib';
import { ipPacketLength, packPackets, splitPackets, type Framing } from '../lib/tunnel/framing';

function udp4(n: number): Buffer {
  return ipv4UdpPacket({
    source: '10.9.0.1',
    destination: '10.9.0.2',
    sourcePort: n,
    destinationPort: 9,
    payload: Buffer.alloc(n, n),
  });
}

/** An IPv6 header with `payload` bytes of payload (no checksum in IPv6's header). */
function ipv6(payload: number): Buffer {
  const p = Buffer.alloc(40 + payload, 0xab);
  p[0] = 0x60;
  p.writeUInt16BE(payload, 4);
  return p;
}

/** Packs `packets` into one stream in `framing`. */
function pack(packets: Buffer[], framing: Framing): Buffer {
  const buffer = Buffer.concat(packets);
  const d = new Uint32Array(2 * packets.length);
  let at = 0;
  packets.forEach((p, i) => {
    d[2 * i] = at;
    d[2 * i + 1] = p.length;
    at += p.length;
  });
  return packPackets(buffer, d, packets.length, framing);
}

/** Feeds `stream` cut at `cut` as two chunks, carrying the rest the way the tunnel does. */
function splitInTwo(stream: Buffer, cut: number, framing: Framing): { packets: Buffer[]; garbage: number; resyncs: number } {
  const packets: Buffer[] = [];
  const d = new Uint32Array(2 * 64);
  let carry = Buffer.alloc(0);
  let garbage = 0;
  let resyncs = 0;
  let inGarbage = false;
  for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
    const bytes = Buffer.concat([carry, chunk]);
    const r = splitPackets(bytes, 0, bytes.length, framing, 65575, d, inGarbage);
    for (let i = 0; i < r.count; i++) packets.push(bytes.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
    garbage += r.garbageBytes;
    resyncs += r.resyncs;
    inGarbage = r.inGarbage;
    carry = bytes.subarray(r.consumed);
  }
  assert.equal(carry.length, 0, 'nothing left over');
  return { packets, garbage, resyncs };
}

test('packets packed in each framing split back out the same, wherever the stream is cut', () => {
  const packets = [udp4(1), ipv6(0x10), udp4(300), ipv6(1000), udp4(7)];
  for (const framing of ['ip', 'length16', 'length32'] as Framing[]) {
    const stream = pack(packets, framing);
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(splitInTwo(stream, cut, framing), { packets, garbage: 0, resyncs: 0 }, `${framing} cut at ${cut}`);
    }
  }
});

// IPv6 headers carry no checksum: garbage with a byte of 0x6? can pass for one,
// so this garbage has none but the jumbogram's (see the resync rule in tunnel()).
test("'ip' framing skips garbage byte by byte to the next plausible header and counts one run, wherever it is cut", () => {
  // An IPv4 header whose checksum (left 0) fails, and an IPv6 one claiming a jumbogram.
  const bad = Buffer.from('450000140000000040110000' + '0a0900010a090002', 'hex');
  const garbage = Buffer.concat([Buffer.alloc(9, 0xff), bad, Buffer.from([0x60, 0, 0, 0, 0, 0])]);
  const packets = [udp4(3), ipv6(8)];
  const stream = Buffer.concat([pack([packets[0]], 'ip'), garbage, pack([packets[1]], 'ip')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(splitInTwo(stream, cut, 'ip'), { packets, garbage: garbage.length, resyncs: 1 }, `cut at ${cut}`);
  }
});

test('ipPacketLength tells a complete header, too few bytes (0) and an implausible one (-1)', () => {
  const p = udp4(10);
  assert.equal(ipPacketLength(p, 0), p.length);
  assert.equal(ipPacketLength(p.subarray(0, 19), 0), 0);
  assert.equal(ipPacketLength(p, 0, p.length - 1), -1, 'longer than max');
  const q = Buffer.from(p);
  q[8] ^= 0xff;
  assert.equal(ipPacketLength(q, 0), -1, 'checksum fails');
  assert.equal(ipPacketLength(ipv6(0), 0), -1, 'IPv6 jumbogram');
  assert.equal(ipPacketLength(ipv6(4), 0), 44);
  assert.equal(ipPacketLength(Buffer.from([0x60, 0, 0]), 0), 0);
  assert.equal(ipPacketLength(Buffer.from([0x50]), 0), -1);
});

test('a length prefix of 0 or over the maximum stops the split and is reported', () => {
  const d = new Uint32Array(8);
  const stream = Buffer.concat([pack([udp4(2)], 'length16'), Buffer.from([0, 0, 1, 2])]);
  const r = splitPackets(stream, 0, stream.length, 'length16', 1500, d);
  assert.equal(r.count, 1);
  assert.equal(r.consumed, 2 + udp4(2).length);
  assert.equal(r.badLength, 0);
  assert.equal(splitPackets(stream, 0, r.consumed, 'length16', 1500, d).badLength, -1, 'none before it');
  const big = Buffer.from([0, 0, 0x10, 0]);
  assert.equal(splitPackets(big, 0, 4, 'length32', 1500, d).badLength, 0x1000);
});
