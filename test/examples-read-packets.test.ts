// examples/read-packets.ts and examples/ping-responder.ts as child processes.
import assert from 'node:assert/strict';
import { ExampleProcess, linesMatching } from './example-helpers';
import { linkExists, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

/** An IPv6 /64 prefix ('fd00:a:b::') as unique as the IPv4 subnet it is made from. */
function prefix6(net: { prefix: string }): string {
  const [, a, b] = net.prefix.split('.');
  return `fd00:${a}:${b}::`;
}

privilegedTest('read-packets prints one line per packet ping sends, then stops cleanly on Ctrl-C', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('read');
  const reader = new ExampleProcess('read-packets', ['--name', name, '--address', `${net.host(1)}/24`]);
  try {
    await reader.waitFor(/^Listening on /m);
    const ping = await run('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', net.host(2)]);
    assert.match(ping.stdout, /3 packets transmitted, 0 received/);
    await reader.waitFor(/(Read 84 bytes from tun\/tap device\n(.*\n)*){3}/);
    await reader.assertStopsCleanlyOnSigint(name);
    assert.equal(linesMatching(reader.stdout, /^Read 84 bytes from tun\/tap device$/).length, 3);
    assert.equal(linkExists(name), false);
  } finally {
    await reader.kill();
  }
});

privilegedTest('read-packets --decode prints the IPv4 header of an echo request', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('read');
  const reader = new ExampleProcess('read-packets', ['--name', name, '--address', `${net.host(1)}/24`, '--decode']);
  try {
    await reader.waitFor(/^Listening on /m);
    await run('ping', ['-n', '-c', '1', '-W', '1', net.host(2)]);
    const [line] = await reader.waitFor(/^ {2}version 4,.*$/m);
    assert.equal(
      line,
      `  version 4, header 20 bytes, total length 84, ttl 64, protocol 1 (ICMP), source ${net.host(1)}, ` +
        `destination ${net.host(2)}, icmp type 8 (echo request) code 0`,
    );
    await reader.assertStopsCleanlyOnSigint(name);
  } finally {
    await reader.kill();
  }
});

privilegedTest('read-packets --tap --decode reads Ethernet frames: the ARP request ping makes first', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('rtap');
  const reader = new ExampleProcess('read-packets', ['--name', name, '--address', `${net.host(1)}/24`, '--tap', '--decode']);
  try {
    await reader.waitFor(/^Listening on /m);
    await run('ping', ['-n', '-c', '1', '-W', '1', net.host(2)]);
    // ARP request: 14-byte Ethernet header + 28-byte ARP body = 42 bytes.
    await reader.waitFor(/^Read 42 bytes from tun\/tap device\n {2}ethertype 0x0806 \(ARP\)$/m);
    await reader.assertStopsCleanlyOnSigint(name);
  } finally {
    await reader.kill();
  }
});

privilegedTest('ping-responder answers IPv4 ping: 4 of 4 replies', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('resp');
  const responder = new ExampleProcess('ping-responder', [
    '--name',
    name,
    '--address',
    `${net.host(1)}/24`,
    '--address6',
    `${prefix6(net)}1/64`,
  ]);
  try {
    await responder.waitFor(/^Listening on /m);
    const ping = await run('ping', ['-n', '-c', '4', '-i', '0.2', '-W', '2', net.host(2)]);
    assert.match(ping.stdout, /4 packets transmitted, 4 received, 0% packet loss/, ping.stdout);
    assert.equal(ping.code, 0);
    await responder.assertStopsCleanlyOnSigint(name);
    assert.match(responder.stdout, /^Answered 4 echo requests$/m);
  } finally {
    await responder.kill();
  }
});

privilegedTest('ping-responder answers ping -6: 4 of 4 ICMPv6 replies', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('resp');
  const responder = new ExampleProcess('ping-responder', [
    '--name',
    name,
    '--address',
    `${net.host(1)}/24`,
    '--address6',
    `${prefix6(net)}1/64`,
  ]);
  try {
    await responder.waitFor(/^Listening on /m);
    const ping = await run('ping', ['-6', '-n', '-c', '4', '-i', '0.2', '-W', '2', `${prefix6(net)}2`]);
    assert.match(ping.stdout, /4 packets transmitted, 4 received, 0% packet loss/, ping.stdout + ping.stderr);
    // Its stdout is complete only once it has exited: ping may see the 4th reply before the 4th line arrives.
    await responder.assertStopsCleanlyOnSigint(name);
    assert.equal(linesMatching(responder.stdout, /^Answered ICMPv6 echo request/).length, 4);
  } finally {
    await responder.kill();
  }
});
