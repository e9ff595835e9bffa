// splitGso on hand-built super-packets, checked with an independent checksum.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GsoType, buildVirtioNetHeader, splitGso } from '../lib';
import {
  ACK,
  CWR,
  FIN,
  PSH,
  asSuperPacket,
  checksumsValid,
  pattern,
  referenceChecksum,
  tcpPacket,
  udpPacket,
} from './packet-builders';

test('the reference checksum gives the textbook value for a sample IPv4 header', () => {
  const header = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
  assert.equal(referenceChecksum([header]), 0xb861);
});

function split(packet: Buffer): Buffer[] {
  const r = splitGso(packet);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.packets;
}

test('an IPv4 TCP super-packet splits into gso_size segments with counted ids and sequence numbers', () => {
  const payload = pattern(10_000);
  const sp = asSuperPacket(
    tcpPacket({ payload, seq: 0xfffff000, id: 0xfffe, flags: ACK | PSH | FIN | CWR }),
    GsoType.TCPV4,
    1448,
  );
  const segments = split(sp);
  assert.equal(segments.length, Math.ceil(10_000 / 1448));
  segments.forEach((s, i) => {
    const last = i === segments.length - 1;
    assert.equal(s.length, 40 + (last ? 10_000 - 1448 * i : 1448));
    assert.equal(s.readUInt16BE(2), s.length, 'IPv4 total length');
    assert.equal(s.readUInt16BE(4), (0xfffe + i) & 0xffff, 'IPv4 id');
    assert.equal(s.readUInt32BE(24), (0xfffff000 + i * 1448) >>> 0, 'sequence number wraps');
    assert.equal(s[33] & (FIN | PSH), last ? FIN | PSH : 0, 'FIN/PSH only on the last');
    assert.equal(s[33] & CWR, i === 0 ? CWR : 0, 'CWR only on the first');
    assert.equal(s[33] & ACK, ACK);
    assert.ok(checksumsValid(s), `segment ${i} checksums`);
  });
  assert.deepEqual(Buffer.concat(segments.map((s) => s.subarray(40))), payload);
});

test('an IPv6 TCP super-packet with options splits with the options in every segment', () => {
  const options = Buffer.from('0101080a0000000100000002', 'hex'); // NOP NOP timestamps
  const payload = pattern(5000, 7);
  const sp = asSuperPacket(tcpPacket({ version: 6, payload, options }), GsoType.TCPV6, 1208);
  const segments = split(sp);
  assert.equal(segments.length, 5);
  for (const s of segments) {
    assert.equal(s.readUInt16BE(4), s.length - 40, 'IPv6 payload length');
    assert.deepEqual(s.subarray(60, 72), options);
    assert.ok(checksumsValid(s));
    assert.ok(s.length <= 40 + 32 + 1208);
  }
  assert.deepEqual(Buffer.concat(segments.map((s) => s.subarray(72))), payload);
});

test('a UDP super-packet (USO) splits into datagrams with their own lengths and checksums', () => {
  for (const version of [4, 6] as const) {
    const payload = pattern(4000, version);
    const segments = split(asSuperPacket(udpPacket(version, payload), GsoType.UDP_L4, 1400));
    assert.equal(segments.length, 3);
    const ipLength = version === 4 ? 20 : 40;
    for (const s of segments) {
      assert.equal(s.readUInt16BE(ipLength + 4), s.length - ipLength, 'UDP length');
      assert.ok(checksumsValid(s));
    }
    assert.deepEqual(Buffer.concat(segments.map((s) => s.subarray(ipLength + 8))), payload);
  }
});

test('a single packet with a partial checksum comes out with the checksum complete', () => {
  const plain = tcpPacket({ payload: pattern(300) });
  const partial = asSuperPacket(plain, GsoType.NONE, 0);
  const [out] = split(partial);
  assert.deepEqual(out, plain);
  assert.ok(checksumsValid(out));
});

test('a packet without NEEDS_CSUM passes through as a view of the input', () => {
  const plain = tcpPacket({ payload: pattern(100) });
  const input = Buffer.concat([buildVirtioNetHeader(), plain]);
  const [out] = split(input);
  assert.deepEqual(out, plain);
  assert.equal(out.buffer, input.buffer);
});

test('malformed input gives an error value, never a throw', () => {
  const good = asSuperPacket(tcpPacket({ payload: pattern(3000) }), GsoType.TCPV4, 1000);
  const cases: Array<[string, Buffer]> = [
    ['short header', Buffer.alloc(5)],
    ['unknown gso_type', Buffer.from([0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x45])],
    ['IPv4 header cut', good.subarray(0, 25)],
    ['TCP header cut', good.subarray(0, 45)],
    ['total length beyond the data', good.subarray(0, 1000)],
    ['gso_size 0', Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 20, 0, 16, 0]), good.subarray(10)])],
    ['TCPV6 on IPv4', Buffer.concat([Buffer.from([1, 4, 0, 0, 0xe8, 3, 20, 0, 16, 0]), good.subarray(10)])],
    ['UDP_L4 on TCP', Buffer.concat([Buffer.from([1, 5, 0, 0, 0xe8, 3, 20, 0, 16, 0]), good.subarray(10)])],
    ['legacy UFO', Buffer.concat([Buffer.from([1, 3, 0, 0, 0xe8, 3, 20, 0, 16, 0]), good.subarray(10)])],
    ['checksum field beyond the end', Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0xff, 0xff, 16, 0]), good.subarray(10)])],
    ['not IP', Buffer.concat([Buffer.from([1, 1, 0, 0, 0xe8, 3, 20, 0, 16, 0]), Buffer.alloc(100)])],
  ];
  const bad = Buffer.from(good);
  bad[10 + 32] = 0x10; // TCP data offset 1
  cases.push(['TCP data offset below 5', bad]);
  for (const [what, packet] of cases) {
    const r = splitGso(packet);
    assert.equal(r.ok, false, what);
    if (!r.ok) assert.ok(r.error.length > 0, what);
  }
  // Random garbage behind every header type: an answer each time, never a throw.
  for (let i = 0; i < 2000; i++) {
    const junk = pattern(10 + (i % 120), i);
    junk[1] = [0, 1, 4, 5][i % 4];
    splitGso(junk);
  }
});
