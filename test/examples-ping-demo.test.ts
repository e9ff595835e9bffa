// examples/ping-demo.ts, run as `npm run demo` runs it (a child process).
import assert from 'node:assert/strict';
import { TunDevice } from '../lib';
import { ExampleProcess, linesMatching } from './example-helpers';
import { linkExists, privilegedTest, uniqueName, uniqueSubnet } from './helpers';

privilegedTest('the demo prints four 84-byte echo requests, the 100% loss summary, and closes the device', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('demo');
  const demo = new ExampleProcess('ping-demo', ['--name', name, '--address', `${net.host(1)}/24`, '--interval', '0.2']);
  try {
    const exit = await demo.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, demo.transcript());
    const reads = linesMatching(demo.stdout, /^Read \d+ bytes from .*ICMP echo request/);
    assert.deepEqual(
      reads,
      [1, 2, 3, 4].map((seq) => `Read 84 bytes from ${name}: ICMP echo request ${net.host(1)} -> ${net.host(2)} seq ${seq}`),
    );
    assert.match(demo.stdout, /4 packets transmitted, 0 received, 100% packet loss/);
    assert.match(demo.stdout, new RegExp(`^Closed ${name}$`, 'm'));
    assert.equal(linkExists(name), false, 'the device is gone with its last fd');
  } finally {
    await demo.kill();
  }
});

privilegedTest('the demo picks a free name when the one asked for is taken', async () => {
  const net = uniqueSubnet();
  await using taken = await TunDevice.open({ name: uniqueName('busy') });
  const demo = new ExampleProcess('ping-demo', [
    '--name',
    taken.name,
    '--address',
    `${net.host(1)}/24`,
    '--count',
    '1',
    '--interval',
    '0.2',
  ]);
  try {
    const [, chosen] = await demo.waitFor(/^Opened (\S+) with/m);
    assert.notEqual(chosen, taken.name);
    assert.match(chosen, /^tun\d+$/);
    assert.equal((await demo.exited).code, 0, demo.transcript());
  } finally {
    await demo.kill();
  }
});

privilegedTest('the demo refuses a subnet another interface already has', async () => {
  const net = uniqueSubnet();
  await using other = await TunDevice.open({ name: uniqueName('own') });
  await other.addAddress(`${net.host(9)}/24`);
  const demo = new ExampleProcess('ping-demo', ['--name', uniqueName('demo'), '--address', `${net.host(1)}/24`]);
  try {
    const exit = await demo.exited;
    assert.equal(exit.code, 1);
    assert.match(demo.stderr, /overlaps/);
    assert.doesNotMatch(demo.stdout, /Read \d+ bytes/);
  } finally {
    await demo.kill();
  }
});

privilegedTest('Ctrl-C stops the demo mid-ping: it closes the device and exits 0', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('demo');
  const demo = new ExampleProcess('ping-demo', [
    '--name',
    name,
    '--address',
    `${net.host(1)}/24`,
    '--count',
    '100',
    '--interval',
    '0.2',
  ]);
  try {
    await demo.waitFor(/ICMP echo request .* seq 1$/m);
    await demo.assertStopsCleanlyOnSigint(name);
    assert.equal(linkExists(name), false);
  } finally {
    await demo.kill();
  }
});
