// The classic first demo, and the echo responder that turns it around.
import assert from 'node:assert/strict';
import { TunDevice, echoReply } from '../lib';
import { bringUp, collect, isIcmpEchoRequest, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

privilegedTest('ping -c 4 through a TUN device shows exactly four 84-byte ICMP echo requests', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('demo') });
  bringUp(dev.name, net);
  const seen: Buffer[] = [];
  // IPv6 router solicitations and MLD reports also arrive: count only IPv4 ICMP echo.
  dev.readable.on('data', (p: Buffer) => {
    if (isIcmpEchoRequest(p)) seen.push(p);
  });
  const ping = await run('ping', ['-c', '4', '-i', '0.2', '-W', '1', net.host(2)]);
  assert.equal(ping.code, 1, 'ping fails: nobody answers');
  assert.match(ping.stdout, /4 packets transmitted, 0 received, 100% packet loss/);
  assert.equal(seen.length, 4);
  for (const p of seen) {
    assert.equal(p.length, 84);
    assert.equal(p.subarray(12, 16).join('.'), net.host(1));
    assert.equal(p.subarray(16, 20).join('.'), net.host(2));
  }
});

privilegedTest('an echo responder on the public API turns that into 4 of 4 replies', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('echo') });
  bringUp(dev.name, net);
  let answered = 0;
  dev.readable.on('data', (p: Buffer) => {
    const reply = echoReply(p);
    if (reply !== null && isIcmpEchoRequest(p)) {
      answered++;
      dev.writable.write(reply);
    }
  });
  const ping = await run('ping', ['-c', '4', '-i', '0.2', '-W', '2', net.host(2)]);
  assert.match(ping.stdout, /4 packets transmitted, 4 received, 0% packet loss/);
  assert.equal(ping.code, 0);
  assert.equal(answered, 4);
});

privilegedTest('async iteration yields one packet per step', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('iter') });
  bringUp(dev.name, net);
  const pinger = run('ping', ['-c', '3', '-i', '0.2', '-W', '1', net.host(2)]);
  let echoes = 0;
  for await (const packet of dev.readable) {
    assert.ok(Buffer.isBuffer(packet));
    if (isIcmpEchoRequest(packet as Buffer, net.host(2))) {
      assert.equal((packet as Buffer).length, 84);
      if (++echoes === 3) break;
    }
  }
  await pinger;
  await dev.close();
  assert.equal(echoes, 3);
});

privilegedTest('collect() helper sees packets in order of arrival', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('ord') });
  bringUp(dev.name, net);
  const packets = collect(dev.readable, 3, (p) => isIcmpEchoRequest(p));
  await run('ping', ['-c', '3', '-i', '0.2', '-W', '1', net.host(2)]);
  const seqs = (await packets).map((p) => p.readUInt16BE(26));
  assert.deepEqual(seqs, [1, 2, 3]);
});
