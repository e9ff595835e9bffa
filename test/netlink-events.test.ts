// Change events: the watcher and TunDevice's link events fire for changes
// made by anyone (here `ip` in another process), and dev.link() counters.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Netlink, TunDevice, internetChecksum, type AddressInfo, type LinkInfo } from '../lib';
import { collect, ip, openFdCount, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { ipLink, nextEvent } from './netlink-helpers';

privilegedTest('the watcher reports links and addresses that ip changes', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nwa') });
  using watcher = await Netlink.watch();
  const up = nextEvent<LinkInfo>(watcher, 'link', (l) => l.index === dev.index && l.up);
  ip('link', 'set', dev.name, 'up');
  assert.equal((await up).name, dev.name);
  const added = nextEvent<AddressInfo>(watcher, 'address', (a) => a.index === dev.index && a.family === 4);
  ip('addr', 'add', `${net.host(1)}/24`, 'dev', dev.name);
  assert.deepEqual(await added, {
    address: net.host(1),
    prefixLength: 24,
    family: 4,
    index: dev.index,
    scope: 'global',
    flags: ['permanent'],
    label: dev.name,
  });
  const removed = nextEvent<AddressInfo>(watcher, 'addressRemoved', (a) => a.address === net.host(1));
  ip('addr', 'del', `${net.host(1)}/24`, 'dev', dev.name);
  assert.equal((await removed).index, dev.index);
});

privilegedTest('the watcher reports a link going away, and routes when asked to', async () => {
  const veth = uniqueName('nwv');
  using watcher = await Netlink.watch({ routes: true });
  const created = nextEvent<LinkInfo>(watcher, 'link', (l) => l.name === veth);
  ip('link', 'add', veth, 'type', 'veth', 'peer', `${veth}p`);
  const { index } = await created;
  const route = nextEvent<{ destination: string; device?: number }>(watcher, 'route', (r) => r.destination === '10.238.0.0/16');
  ip('link', 'set', veth, 'up');
  ip('route', 'add', '10.238.0.0/16', 'dev', veth);
  assert.equal((await route).device, index);
  const gone = nextEvent<LinkInfo>(watcher, 'linkRemoved', (l) => l.index === index);
  ip('link', 'del', veth);
  assert.equal((await gone).name, veth);
});

privilegedTest('TunDevice emits up, down and linkChange for changes made with ip', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nwd') });
  const up = nextEvent<LinkInfo>(dev, 'up');
  ip('link', 'set', dev.name, 'up');
  assert.equal((await up).up, true);
  const mtu = nextEvent<LinkInfo>(dev, 'linkChange', (l) => l.mtu === 1300);
  ip('link', 'set', dev.name, 'mtu', '1300');
  assert.equal((await mtu).index, dev.index);
  const down = nextEvent<LinkInfo>(dev, 'down');
  ip('link', 'set', dev.name, 'down');
  assert.equal((await down).up, false);
});

privilegedTest('TunDevice emits addressAdded and addressRemoved, for ip and for its own helpers', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nwe') });
  const added = nextEvent<AddressInfo>(dev, 'addressAdded', (a) => a.address === net.host(1));
  ip('addr', 'add', `${net.host(1)}/24`, 'dev', dev.name);
  assert.equal((await added).prefixLength, 24);
  const ownAdd = nextEvent<AddressInfo>(dev, 'addressAdded', (a) => a.address === 'fd00:e::1');
  await dev.addAddress('fd00:e::1/64');
  assert.equal((await ownAdd).family, 6);
  const removed = nextEvent<AddressInfo>(dev, 'addressRemoved', (a) => a.address === net.host(1));
  await dev.removeAddress(`${net.host(1)}/24`);
  assert.equal((await removed).index, dev.index);
});

privilegedTest('link events open one socket on the first listener and none before', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nwf') });
  const before = openFdCount();
  dev.on('close', () => {});
  dev.on('drop', () => {});
  assert.equal(openFdCount(), before, 'no socket for other events');
  dev.on('up', () => {});
  assert.equal(openFdCount(), before + 1);
  dev.on('down', () => {});
  dev.on('linkChange', () => {});
  assert.equal(openFdCount(), before + 1, 'one socket for all link events');
  await dev.close();
  assert.ok(openFdCount() <= before - 1, 'the socket and the device fd are closed');
});

privilegedTest('the TunDevice helpers delegate by index and agree with ip', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nwg') });
  await dev.addAddress(`${net.host(1)}/24`);
  await dev.setMtu(1400);
  await dev.setTxQueueLength(900);
  await dev.up();
  await dev.addRoute('10.239.0.0/16', { metric: 9 });
  const link = await dev.link();
  assert.deepEqual(
    { up: link.up, mtu: link.mtu, txQueueLength: link.txQueueLength },
    { up: true, mtu: 1400, txQueueLength: 900 },
  );
  assert.deepEqual(
    (await dev.addresses()).filter((a) => a.family === 4).map((a) => a.address),
    [net.host(1)],
  );
  const route = ip('-j', 'route', 'show', '10.239.0.0/16');
  assert.match(route, new RegExp(`"dev":"${dev.name}".*"metric":9`));
  await dev.removeRoute('10.239.0.0/16', { metric: 9 });
  assert.equal(ip('route', 'show', '10.239.0.0/16'), '');
  await dev.down();
  assert.ok(!ipLink(dev.name).flags.includes('UP'));
  await assert.rejects(dev.setMacAddress('02:00:00:00:00:01'), { message: new RegExp(`'${dev.name}'.*TUN devices have none`) });
  await dev.close();
  await assert.rejects(dev.link(), { code: 'ERR_DEVICE_CLOSED' });
});

/** An IPv4 UDP packet src -> dst, checksum 0 (allowed for UDP over IPv4). */
function udpPacket(src: string, dst: string, port: number, payload: number): Buffer {
  const p = Buffer.alloc(28 + payload);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(40000, 20);
  p.writeUInt16BE(port, 22);
  p.writeUInt16BE(8 + payload, 24);
  return p;
}

privilegedTest('dev.link() counters match ip -s link after a known number of packets each way', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nwh') });
  // No IPv6 on the link: router solicitations and MLD reports would add packets we did not send.
  await run('sysctl', ['-qw', `net.ipv6.conf.${dev.name}.disable_ipv6=1`]);
  await dev.addAddress(`${net.host(1)}/24`);
  await dev.up();
  // Written to the device: the kernel receives them (rx). A socket takes
  // them, or each would be answered by an ICMP port unreachable (tx).
  const receiver = dgram.createSocket('udp4');
  receiver.bind(0, net.host(1));
  await once(receiver, 'listening');
  const port = receiver.address().port;
  let delivered = 0;
  const allDelivered = new Promise<void>((resolve) => receiver.on('message', () => ++delivered === 11 && resolve()));
  for (let i = 0; i < 11; i++) dev.writable.write(udpPacket(net.host(2), net.host(1), port, 100));
  await allDelivered;
  receiver.close();
  // Sent by a socket towards the device's subnet: the kernel transmits them (tx) to our reader.
  const socket = dgram.createSocket('udp4');
  const read = collect(dev.readable, 7, (p) => p[9] === 17 && p.subarray(16, 20).join('.') === net.host(3));
  for (let i = 0; i < 7; i++) socket.send(Buffer.alloc(50), 9, net.host(3));
  await read;
  socket.close();
  await once(socket, 'close');
  const stats = (await dev.link()).stats;
  const oracle = ipLink(dev.name).stats64;
  assert.ok(oracle !== undefined);
  assert.deepEqual(
    { rx: stats.rxPackets, rxBytes: stats.rxBytes, tx: stats.txPackets, txBytes: stats.txBytes },
    { rx: 11, rxBytes: 11 * 128, tx: 7, txBytes: 7 * 78 },
  );
  assert.deepEqual(
    [
      stats.rxPackets,
      stats.rxBytes,
      stats.rxDropped,
      stats.rxErrors,
      stats.txPackets,
      stats.txBytes,
      stats.txDropped,
      stats.txErrors,
    ],
    [
      oracle.rx.packets,
      oracle.rx.bytes,
      oracle.rx.dropped,
      oracle.rx.errors,
      oracle.tx.packets,
      oracle.tx.bytes,
      oracle.tx.dropped,
      oracle.tx.errors,
    ],
  );
});
