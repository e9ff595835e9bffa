// packetInfo: the kernel's 4-byte header (flags, EtherType) before each packet.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { TunDevice, ipv4UdpPacket } from '../lib';
import { boundUdpSocket, bringUp, collect, isIcmpEchoRequest, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

privilegedTest('with packetInfo, each packet read starts with the protocol of the packet', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('pi'), packetInfo: true });
  assert.equal(dev.packetInfo, true);
  bringUp(dev.name, net);
  const echo = collect(dev.readable, 1, (p) => p.readUInt16BE(2) === 0x0800 && isIcmpEchoRequest(p.subarray(4)));
  const ping = run('ping', ['-c', '1', '-W', '1', net.host(2)]);
  const [packet] = await echo;
  await ping;
  assert.equal(packet.length, 4 + 84);
  assert.equal(packet.readUInt16BE(0), 0, 'flags');
  assert.equal(packet.readUInt16BE(2), 0x0800, 'EtherType IPv4');
});

privilegedTest('with packetInfo, a written packet needs the header and then reaches a socket', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('piw'), packetInfo: true });
  bringUp(dev.name, net);
  const { socket } = await boundUdpSocket(net.host(1));
  const payload = Buffer.from('with a header');
  const packet = ipv4UdpPacket({
    source: net.host(2),
    destination: net.host(1),
    sourcePort: 1234,
    destinationPort: socket.address().port,
    payload,
  });
  const header = Buffer.from([0, 0, 0x08, 0x00]);
  const got = once(socket, 'message') as Promise<[Buffer]>;
  dev.writable.write(Buffer.concat([header, packet]));
  const [message] = await got;
  socket.close();
  assert.deepEqual(message, payload);
});

privilegedTest('without packetInfo, a packet read is the bare IP packet', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nopi') });
  assert.equal(dev.packetInfo, false);
  bringUp(dev.name, net);
  const echo = collect(dev.readable, 1, (p) => isIcmpEchoRequest(p));
  const ping = run('ping', ['-c', '1', '-W', '1', net.host(2)]);
  const [packet] = await echo;
  await ping;
  assert.equal(packet.length, 84);
  assert.equal(packet[0], 0x45);
});
