// IP over a byte stream: a batch packed back to back, carried by a real TCP
// connection (which cuts it where it likes), split again into descriptors
// and written with writePackets: ping through that loop gets its replies.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { TunDevice } from '../lib';
import { echoReply, ipPacketLength, packPackets, splitIpStream, tcpPacket, udpPacket } from '../lib/packet';
import { bringUp, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

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
  assert.deepEqual(splitIpStream(stream, d, 0, stream.length - 1), { packets: 2, bytes: a.length + b.length, reason: 'ok' });
  assert.deepEqual(Array.from(d.subarray(0, 4)), [0, a.length, a.length, b.length]);
  assert.deepEqual(
    splitIpStream(stream, new Uint32Array(2)),
    { packets: 1, bytes: a.length, reason: 'ok' },
    'descriptors run out',
  );
  const corrupt = Buffer.concat([a, Buffer.from([0x10, 0, 0, 0])]);
  assert.deepEqual(splitIpStream(corrupt, d), { packets: 1, bytes: a.length, reason: 'bad-version' });
  assert.deepEqual(packPackets(stream, d, 2), stream.subarray(0, a.length + b.length));
  assert.throws(() => splitIpStream(stream, d, 0, stream.length + 1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => packPackets(stream, d, 5), { code: 'ERR_OUT_OF_RANGE' });
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
