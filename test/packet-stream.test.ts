// IP over a byte stream: a batch packed back to back (or behind length
// prefixes), split again whatever the chunking, garbage skipped by the
// documented rule; and ping through a real TCP connection gets its replies.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { TunDevice } from '../lib';
import { echoReply, ipPacketLength, packPackets, splitIpStream, tcpPacket, udpPacket, type Framing } from '../lib/packet';
import { bringUp, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { asBatch } from './packet-builders';

function udp4(n: number): Buffer {
  return udpPacket({
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
  const { slab, descriptors } = asBatch(packets);
  return packPackets(slab, descriptors, packets.length, undefined, { framing });
}

/** Feeds `stream` cut at `cut` as two chunks with resync on, carrying the rest the way tunnel() does. */
function splitInTwo(stream: Buffer, cut: number, framing: Framing): { packets: Buffer[]; garbage: number; resyncs: number } {
  const packets: Buffer[] = [];
  const d = new Uint32Array(2 * 64);
  let carry = Buffer.alloc(0);
  let garbage = 0;
  let resyncs = 0;
  let inGarbage = false;
  for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
    const bytes = Buffer.concat([carry, chunk]);
    const r = splitIpStream(bytes, d, 0, bytes.length, { framing, resync: true, inGarbage });
    assert.equal(r.reason, 'ok');
    for (let i = 0; i < r.packets; i++) packets.push(bytes.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
    garbage += r.garbageBytes;
    resyncs += r.resyncs;
    inGarbage = r.inGarbage;
    carry = bytes.subarray(r.bytes);
  }
  assert.equal(carry.length, 0, 'nothing left over');
  return { packets, garbage, resyncs };
}

test('ipPacketLength reads IPv4 and IPv6 lengths, 0 when too short to tell, -1 for what is no IP header', () => {
  const v4 = udpPacket({
    source: '10.0.0.1',
    destination: '10.0.0.2',
    sourcePort: 1,
    destinationPort: 2,
    payload: Buffer.alloc(5),
  });
  const v6 = tcpPacket({ source: 'fd00::1', destination: 'fd00::2', sourcePort: 1, destinationPort: 2 });
  assert.deepEqual([ipPacketLength(v4), ipPacketLength(v6), ipPacketLength(Buffer.concat([v4, v6]), v4.length)], [33, 60, 60]);
  assert.deepEqual(
    [ipPacketLength(v4.subarray(0, 3)), ipPacketLength(v6.subarray(0, 5)), ipPacketLength(Buffer.alloc(0))],
    [0, 0, 0],
  );
  assert.deepEqual([ipPacketLength(Buffer.from([0x00, 0, 0, 40])), ipPacketLength(Buffer.from([0x45, 0, 0, 19]))], [-1, -1]);
});

test('ipPacketLength finds an implausible header: a failing IPv4 checksum, an IPv6 jumbogram, a length over the maximum', () => {
  const p = udp4(10);
  assert.equal(ipPacketLength(p, 0), p.length);
  assert.equal(ipPacketLength(p.subarray(0, 19), 0), 0, 'the checksum needs the whole header');
  assert.equal(ipPacketLength(p, 0, p.length - 1), -1, 'longer than max');
  const q = Buffer.from(p);
  q[8] ^= 0xff;
  assert.equal(ipPacketLength(q, 0), -1, 'checksum fails');
  assert.equal(ipPacketLength(ipv6(0), 0), -1, 'IPv6 jumbogram');
  assert.equal(ipPacketLength(ipv6(4), 0), 44);
  assert.equal(ipPacketLength(Buffer.from([0x60, 0, 0]), 0), 0);
  assert.equal(ipPacketLength(Buffer.from([0x50]), 0), -1);
});

test('splitIpStream describes whole packets, keeps a cut one for later, and stops where the stream is out of step', () => {
  const a = udpPacket({
    source: '10.0.0.1',
    destination: '10.0.0.2',
    sourcePort: 1,
    destinationPort: 2,
    payload: Buffer.alloc(3),
  });
  const b = tcpPacket({ source: 'fd00::1', destination: 'fd00::2', sourcePort: 1, destinationPort: 2, payload: Buffer.alloc(9) });
  const stream = Buffer.concat([a, b, a]);
  const d = new Uint32Array(8);
  const clean = { reason: 'ok', badLength: -1, garbageBytes: 0, resyncs: 0, inGarbage: false };
  assert.deepEqual(splitIpStream(stream, d, 0, stream.length - 1), { ...clean, packets: 2, bytes: a.length + b.length });
  assert.deepEqual(Array.from(d.subarray(0, 4)), [0, a.length, a.length, b.length]);
  assert.deepEqual(splitIpStream(stream, new Uint32Array(2)), { ...clean, packets: 1, bytes: a.length }, 'descriptors run out');
  const corrupt = Buffer.concat([a, Buffer.from([0x10, 0, 0, 0])]);
  assert.deepEqual(splitIpStream(corrupt, d), { ...clean, packets: 1, bytes: a.length, reason: 'bad-version' });
  const badSum = Buffer.concat([a, a]);
  badSum[a.length + 8] ^= 0xff;
  assert.deepEqual(splitIpStream(badSum, d), { ...clean, packets: 1, bytes: a.length, reason: 'bad-checksum' });
  assert.deepEqual(packPackets(stream, d, 2), stream.subarray(0, a.length + b.length));
  assert.throws(() => splitIpStream(stream, d, 0, stream.length + 1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => packPackets(stream, d, 5), { code: 'ERR_OUT_OF_RANGE' });
});

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
test('with resync, garbage is skipped byte by byte to the next plausible header and counts one run, wherever it is cut', () => {
  // An IPv4 header whose checksum (left 0) fails, and an IPv6 one claiming a jumbogram.
  const bad = Buffer.from('450000140000000040110000' + '0a0900010a090002', 'hex');
  const garbage = Buffer.concat([Buffer.alloc(9, 0xff), bad, Buffer.from([0x60, 0, 0, 0, 0, 0])]);
  const packets = [udp4(3), ipv6(8)];
  const stream = Buffer.concat([pack([packets[0]], 'ip'), garbage, pack([packets[1]], 'ip')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(splitInTwo(stream, cut, 'ip'), { packets, garbage: garbage.length, resyncs: 1 }, `cut at ${cut}`);
  }
});

test('a length prefix of 0 or over the maximum stops the split and is reported', () => {
  const d = new Uint32Array(8);
  const stream = Buffer.concat([pack([udp4(2)], 'length16'), Buffer.from([0, 0, 1, 2])]);
  const r = splitIpStream(stream, d, 0, stream.length, { framing: 'length16', maxPacketSize: 1500 });
  assert.deepEqual([r.packets, r.bytes, r.reason, r.badLength], [1, 2 + udp4(2).length, 'bad-length', 0]);
  const before = splitIpStream(stream, d, 0, r.bytes, { framing: 'length16', maxPacketSize: 1500 });
  assert.deepEqual([before.reason, before.badLength], ['ok', -1], 'none before it');
  const big = Buffer.from([0, 0, 0x10, 0]);
  assert.equal(splitIpStream(big, d, 0, 4, { framing: 'length32', maxPacketSize: 1500 }).badLength, 0x1000);
  assert.throws(() => splitIpStream(big, d, 0, 4, { framing: 'length16', maxPacketSize: 0x10000 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => packPackets(big, d, 0, undefined, { framing: 'length8' as Framing }), { code: 'ERR_INVALID_ARG_VALUE' });
});

privilegedTest('ping answered through a TCP stream: packPackets -> socket -> splitIpStream -> writePackets', async () => {
  const subnet = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('vstr') });
  bringUp(dev.name, subnet);
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  const [far] = (await once(server, 'connection')) as [net.Socket];
  const d = new Uint32Array(128);
  let pending: Buffer = Buffer.alloc(0);
  let written = 0;
  // The far end answers each echo request it gets off the stream; the replies go back into the device.
  far.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const split = splitIpStream(pending, d);
    assert.equal(split.reason, 'ok');
    const replies = [];
    for (let i = 0; i < split.packets; i++) {
      const reply = echoReply(pending.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
      if (reply !== null) replies.push(reply);
    }
    const packed = Buffer.concat(replies);
    const back = splitIpStream(packed, d);
    written += dev.writePackets(packed, d, back.packets);
    pending = pending.subarray(split.bytes);
  });
  dev.readBatches((slab, descriptors, count) => {
    client.write(packPackets(slab, descriptors, count));
  });
  try {
    const r = await run('ping', ['-n', '-c', '5', '-i', '0.2', '-W', '2', '-s', '1200', subnet.host(2)]);
    assert.match(r.stdout, /5 received/, r.stdout + r.stderr);
    assert.ok(written >= 5);
  } finally {
    client.destroy();
    far.destroy();
    server.close();
    await dev.close();
  }
});
