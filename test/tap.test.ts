// TAP mode: Ethernet frames, ARP included.
import assert from 'node:assert/strict';
import { TunDevice, echoReply } from '../lib';
import { bringUp, collect, ipJson, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

const FAKE_MAC = Buffer.from([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);

function isArpRequestFor(frame: Buffer, target: string): boolean {
  return (
    frame.length >= 42 &&
    frame.readUInt16BE(12) === 0x0806 &&
    frame.readUInt16BE(20) === 1 &&
    frame.subarray(38, 42).join('.') === target
  );
}

/** An ARP reply to `request`, saying `mac` has the address asked for. */
function arpReply(request: Buffer, mac: Buffer): Buffer {
  const reply = Buffer.alloc(42);
  request.copy(reply, 0, 6, 12); // to the asker
  mac.copy(reply, 6);
  reply.writeUInt16BE(0x0806, 12);
  request.copy(reply, 14, 14, 20); // htype, ptype, hlen, plen
  reply.writeUInt16BE(2, 20); // reply
  mac.copy(reply, 22);
  request.copy(reply, 28, 38, 42); // sender IP = the target asked for
  request.copy(reply, 32, 22, 28); // target MAC = asker's
  request.copy(reply, 38, 28, 32); // target IP = asker's
  return reply;
}

privilegedTest('a TAP device reads the kernel ARP request for a neighbour as an Ethernet frame', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('tap'), mode: 'tap' });
  assert.equal(dev.mode, 'tap');
  bringUp(dev.name, net);
  const arp = collect(dev.readable, 1, (f) => isArpRequestFor(f, net.host(2)));
  const ping = run('ping', ['-c', '1', '-W', '1', net.host(2)]);
  const [frame] = await arp;
  await ping;
  assert.deepEqual(frame.subarray(0, 6), Buffer.alloc(6, 0xff), 'broadcast destination');
  const [link] = ipJson<{ address: string }>('link', 'show', 'dev', dev.name);
  assert.equal(frame.subarray(6, 12).toString('hex').match(/../g)?.join(':'), link.address, 'source is the TAP MAC');
  assert.equal(frame.subarray(28, 32).join('.'), net.host(1), 'sender IP');
});

privilegedTest('answering ARP and ICMP in Ethernet frames makes ping through TAP succeed', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('tapr'), mode: 'tap' });
  bringUp(dev.name, net);
  dev.readable.on('data', (frame: Buffer) => {
    if (isArpRequestFor(frame, net.host(2))) {
      dev.writable.write(arpReply(frame, FAKE_MAC));
    } else if (frame.length > 14 && frame.readUInt16BE(12) === 0x0800 && frame.subarray(0, 6).equals(FAKE_MAC)) {
      const reply = echoReply(frame.subarray(14));
      if (reply === null) return;
      const header = Buffer.alloc(14);
      frame.copy(header, 0, 6, 12);
      FAKE_MAC.copy(header, 6);
      header.writeUInt16BE(0x0800, 12);
      dev.writable.write(Buffer.concat([header, reply]));
    }
  });
  const ping = await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', net.host(2)]);
  assert.match(ping.stdout, /3 packets transmitted, 3 received/);
  const neighbours = ipJson<{ dst: string; lladdr?: string }>('neigh', 'show', 'dev', dev.name);
  const entry = neighbours.find((n) => n.dst === net.host(2));
  assert.equal(entry?.lladdr, '02:00:5e:10:20:30');
});
