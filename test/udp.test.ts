// UDP through a TUN device in both directions, byte-exact.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { TunDevice, ipv4UdpPacket } from '../lib';
import { boundUdpSocket, bringUp, collect, privilegedTest, rejectAfter, uniqueName, uniqueSubnet } from './helpers';

async function tunWithSubnet(): Promise<{ dev: TunDevice; local: string; peer: string }> {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('udp') });
  bringUp(dev.name, net);
  return { dev, local: net.host(1), peer: net.host(2) };
}

privilegedTest('a datagram sent by a socket is read from readable byte-exact', async () => {
  const { dev, local, peer } = await tunWithSubnet();
  await using _ = dev;
  const { socket } = await boundUdpSocket(local);
  const payload = Buffer.from('hello through the tunnel, with bytes \x00\xff\x7f');
  const isOurs = (p: Buffer): boolean => p[0] >> 4 === 4 && p[9] === 17 && p.readUInt16BE(22) === 9999;
  const read = collect(dev.readable, 1, isOurs);
  socket.send(payload, 9999, peer);
  const [packet] = await read;
  const sourcePort = socket.address().port;
  socket.close();
  assert.equal(packet.length, 28 + payload.length);
  assert.equal(packet.subarray(12, 16).join('.'), local);
  assert.equal(packet.subarray(16, 20).join('.'), peer);
  assert.equal(packet.readUInt16BE(20), sourcePort);
  assert.deepEqual(packet.subarray(28), payload);
});

privilegedTest('a packet written to writable arrives at a socket in the namespace', async () => {
  const { dev, local, peer } = await tunWithSubnet();
  await using _ = dev;
  const { socket, port } = await boundUdpSocket(local);
  const payload = Buffer.from(Array.from({ length: 1200 }, (_, i) => i & 0xff));
  const received = once(socket, 'message') as Promise<[Buffer, dgram.RemoteInfo]>;
  dev.writable.write(ipv4UdpPacket({ source: peer, destination: local, sourcePort: 7000, destinationPort: port, payload }));
  const [message, from] = await received;
  socket.close();
  assert.deepEqual(message, payload);
  assert.equal(from.address, peer);
  assert.equal(from.port, 7000);
});

privilegedTest('a corked burst of writes reaches the socket complete and in order', async () => {
  const { dev, local, peer } = await tunWithSubnet();
  await using _ = dev;
  const { socket, port } = await boundUdpSocket(local);
  const count = 300;
  const got: number[] = [];
  const all = new Promise<void>((resolve) => {
    socket.on('message', (m: Buffer) => {
      got.push(m.readUInt32BE(0));
      if (got.length === count) resolve();
    });
  });
  dev.writable.cork();
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(64);
    payload.writeUInt32BE(i, 0);
    dev.writable.write(ipv4UdpPacket({ source: peer, destination: local, sourcePort: 7000, destinationPort: port, payload }));
  }
  dev.writable.uncork();
  await Promise.race([all, rejectAfter(30_000, () => `only ${got.length} of ${count} datagrams arrived`)]);
  socket.close();
  assert.deepEqual(
    got,
    Array.from({ length: count }, (_, i) => i),
  );
});

privilegedTest(
  'a burst mixing views of shared, separate and shared-memory buffers arrives in order, a bad packet among them dropped',
  async () => {
    const { dev, local, peer } = await tunWithSubnet();
    await using _ = dev;
    const { socket, port } = await boundUdpSocket(local);
    const packet = (i: number): Buffer => {
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(i, 0);
      return ipv4UdpPacket({ source: peer, destination: local, sourcePort: 7000, destinationPort: port, payload });
    };
    // Packets 0-3 live back to front in one ArrayBuffer, so a view's offset is
    // not ordered with its place in the burst; then a packet of its own, a
    // plain Uint8Array, one in a SharedArrayBuffer, then 0-3's buffer again.
    const size = packet(0).length;
    const shared = Buffer.alloc(4 * size);
    for (let i = 0; i < 4; i++) packet(i).copy(shared, (3 - i) * size);
    const inShared = new Uint8Array(new SharedArrayBuffer(size + 8), 8, size);
    inShared.set(packet(7));
    const bad = new Uint8Array([0x00, 1, 2, 3, 4, 5, 6, 7]); // first nibble 0: neither IPv4 nor IPv6
    const burst: Uint8Array[] = [
      ...[0, 1, 2, 3].map((i) => shared.subarray((3 - i) * size, (4 - i) * size)),
      packet(4),
      bad,
      new Uint8Array(packet(6)),
      inShared,
      shared.subarray(3 * size, 4 * size), // packet 0 again
    ];
    const expected = [0, 1, 2, 3, 4, 6, 7, 0];
    const got: number[] = [];
    const all = new Promise<void>((resolve) => {
      socket.on('message', (m: Buffer) => {
        got.push(m.readUInt32BE(0));
        if (got.length === expected.length) resolve();
      });
    });
    const drops: Uint8Array[] = [];
    dev.on('drop', (p) => drops.push(p));
    dev.writable.cork();
    for (const p of burst) dev.writable.write(p);
    dev.writable.uncork();
    try {
      await Promise.race([all, rejectAfter(30_000, () => `only ${got.length} of ${expected.length} datagrams arrived`)]);
    } finally {
      socket.close();
    }
    assert.deepEqual(got, expected);
    assert.equal(drops.length, 1);
    assert.deepEqual([...drops[0]], [...bad]);
  },
);
