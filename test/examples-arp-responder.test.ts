// examples/arp-responder.ts: ping through a TAP device to a made-up host.
import assert from 'node:assert/strict';
import { ExampleProcess, linesMatching } from './example-helpers';
import { ipJson, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

privilegedTest('ping through a TAP device gets 4 of 4 replies from the ARP and echo responder', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('arp');
  const mac = '02:00:5e:10:00:42';
  const responder = new ExampleProcess('arp-responder', [
    '--name',
    name,
    '--address',
    `${net.host(1)}/24`,
    '--host',
    net.host(7),
    '--mac',
    mac,
  ]);
  try {
    await responder.waitFor(/^Listening on /m);
    const ping = await run('ping', ['-n', '-c', '4', '-i', '0.2', '-W', '2', net.host(7)]);
    assert.match(ping.stdout, /4 packets transmitted, 4 received, 0% packet loss/, ping.stdout + responder.transcript());
    // The kernel learnt the made-up MAC from our ARP reply.
    const [neighbour] = ipJson<{ dst: string; lladdr?: string }>('neigh', 'show', 'dev', name, 'to', net.host(7));
    assert.equal(neighbour?.lladdr, mac);
    await responder.assertStopsCleanlyOnSigint(name);
    assert.equal(linesMatching(responder.stdout, /^Answered ICMP echo request/).length, 4);
    assert.ok(linesMatching(responder.stdout, /^Answered ARP/).length >= 1);
  } finally {
    await responder.kill();
  }
});

privilegedTest('the TAP responder stays silent for an address that is not its own', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('arp');
  const responder = new ExampleProcess('arp-responder', [
    '--name',
    name,
    '--address',
    `${net.host(1)}/24`,
    '--host',
    net.host(7),
  ]);
  try {
    await responder.waitFor(/^Listening on /m);
    const ping = await run('ping', ['-n', '-c', '1', '-W', '1', net.host(8)]);
    assert.match(ping.stdout, /1 packets transmitted, 0 received/);
    assert.doesNotMatch(responder.stdout, /Answered/);
    await responder.assertStopsCleanlyOnSigint(name);
  } finally {
    await responder.kill();
  }
});
