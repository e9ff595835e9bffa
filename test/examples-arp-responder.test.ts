// examples/arp-responder.ts: ping through a TAP device to a made-up host.
import assert from 'node:assert/strict';
import { ExampleProcess, linesMatching } from './example-helpers';
import { ip, ipJson, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';

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

privilegedTest('ping -6 through a TAP device gets 4 of 4 replies: neighbour discovery answered with neighborReply', async () => {
  const name = uniqueName('ndp');
  const mac = '02:00:5e:10:00:43';
  const prefix = `fd00:${(process.pid % 0xffff).toString(16)}:99::`;
  const responder = new ExampleProcess('arp-responder', [
    '--name',
    name,
    '--address6',
    `${prefix}1/64`,
    '--host6',
    `${prefix}7`,
    '--mac',
    mac,
  ]);
  try {
    await responder.waitFor(/^Listening on /m);
    // Until duplicate address detection ends, the kernel has no source address for the ping.
    await until(() => ip('-6', 'addr', 'show', 'dev', name, 'tentative').trim() === '', 'DAD to finish', 10_000, 100);
    const ping = await run('ping', ['-6', '-n', '-c', '4', '-i', '0.2', '-W', '2', `${prefix}7`]);
    assert.match(
      ping.stdout,
      /4 packets transmitted, 4 received, 0% packet loss/,
      ping.stdout + ping.stderr + responder.transcript(),
    );
    // The kernel learnt the made-up MAC from our neighbour advertisement.
    const [neighbour] = ipJson<{ dst: string; lladdr?: string }>('-6', 'neigh', 'show', 'dev', name, 'to', `${prefix}7`);
    assert.equal(neighbour?.lladdr, mac);
    await responder.assertStopsCleanlyOnSigint(name);
    assert.equal(linesMatching(responder.stdout, /^Answered ICMPv6 echo request/).length, 4);
    assert.ok(linesMatching(responder.stdout, /^Answered NDP/).length >= 1);
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
