// Opening a device in another network namespace without re-exec: the
// opening thread enters it for the open only, and always comes back.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { Netlink, TunDevice } from '../lib';
import { linkExists, privilegedTest, uniqueName } from './helpers';
import { LIB } from './kernel-helpers';

function withNamedNetns(t: { after: (fn: () => void) => void }): { name: string; path: string } {
  const name = `tuntap-${process.pid}-${uniqueName('ns')}`;
  execFileSync('ip', ['netns', 'add', name]);
  t.after(() => execFileSync('ip', ['netns', 'del', name]));
  return { name, path: `/var/run/netns/${name}` };
}

function existsIn(netns: string, dev: string): boolean {
  try {
    execFileSync('ip', ['-n', netns, 'link', 'show', 'dev', dev], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const here = (): string => readlinkSync('/proc/thread-self/ns/net');

privilegedTest('a device opened with netns lives in that namespace, not in ours', async (t) => {
  const ns = withNamedNetns(t);
  const before = here();
  await using dev = await TunDevice.open({ name: uniqueName('ns'), netns: ns.path });
  assert.equal(here(), before, 'the thread is back home');
  assert.ok(existsIn(ns.name, dev.name));
  assert.equal(linkExists(dev.name), false);
  assert.equal(dev.netns, ns.path);
  assert.ok(dev.index > 0);
  assert.equal(await dev.getMtu(), 1500, 'mtu is asked in the device namespace');
});

privilegedTest('a failed open in another namespace (the name is in use there) leaves the thread in its own', async (t) => {
  const ns = withNamedNetns(t);
  const before = here();
  await using first = await TunDevice.open({ name: uniqueName('nsb'), netns: ns.path });
  await assert.rejects(TunDevice.open({ name: first.name, netns: ns.path }), {
    name: 'TunError',
    code: 'EBUSY',
    syscall: 'ioctl(TUNSETIFF)',
  });
  assert.equal(here(), before);
  // And the same name is free here: the namespaces are separate.
  await using local = await TunDevice.open({ name: first.name });
  assert.ok(linkExists(local.name));
});

privilegedTest('a path that is not a network namespace fails with a clear error and changes nothing', async () => {
  const before = here();
  await assert.rejects(TunDevice.open({ name: uniqueName('nsx'), netns: '/proc/self/ns/uts' }), {
    code: 'EINVAL',
    syscall: 'setns',
    message: /not a network namespace/,
  });
  await assert.rejects(TunDevice.open({ name: uniqueName('nsx'), netns: '/var/run/netns/tuntap-no-such-ns' }), {
    code: 'ENOENT',
    message: /ip netns add/,
  });
  assert.equal(here(), before);
});

privilegedTest('a /proc/PID/ns/net path works too', async () => {
  // Our own namespace through a pid path: the device lands where we are.
  await using dev = await TunDevice.open({ name: uniqueName('nsp'), netns: `/proc/${process.pid}/ns/net` });
  assert.ok(linkExists(dev.name));
});

privilegedTest('a device opened in another namespace is configured there by its own helpers', async (t) => {
  const ns = withNamedNetns(t);
  await using dev = await TunDevice.open({ name: uniqueName('nsc'), netns: ns.path });
  // A device of ours with the same index could otherwise be configured by mistake.
  await dev.addAddress('10.77.0.1/24');
  await dev.up();
  const addrs = JSON.parse(
    execFileSync('ip', ['-n', ns.name, '-j', 'addr', 'show', 'dev', dev.name], { encoding: 'utf8' }),
  ) as Array<{
    flags: string[];
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  assert.ok(addrs[0].addr_info.some((a) => a.local === '10.77.0.1' && a.prefixlen === 24));
  assert.ok(addrs[0].flags.includes('UP'));
  assert.deepEqual(
    (await dev.addresses()).filter((a) => a.family === 4).map((a) => a.address),
    ['10.77.0.1'],
  );
  const local = JSON.parse(execFileSync('ip', ['-j', 'addr'], { encoding: 'utf8' })) as Array<{
    addr_info: Array<{ local: string }>;
  }>;
  assert.equal(
    local.some((l) => l.addr_info.some((a) => a.local === '10.77.0.1')),
    false,
    'nothing changed here',
  );
});

privilegedTest('Netlink.open({ netns }) reads and changes the links of that namespace', async (t) => {
  const ns = withNamedNetns(t);
  const nl = await Netlink.open({ netns: ns.path });
  try {
    const links = await nl.links();
    assert.deepEqual(
      links.map((l) => l.name),
      ['lo'],
      'a fresh namespace has only lo',
    );
    await nl.setUp('lo');
    assert.match(execFileSync('ip', ['-n', ns.name, 'link', 'show', 'lo'], { encoding: 'utf8' }), /UP/);
  } finally {
    nl.close();
  }
});

privilegedTest(
  'fromFd() of a queue whose device lives in another namespace configures that device, not ours of the same name',
  async (t) => {
    const ns = withNamedNetns(t);
    const name = uniqueName('same');
    // Ours, with the same name and (most likely) another index.
    await using ours = await TunDevice.open({ name });
    await using theirs = await TunDevice.open({ name, netns: ns.path });
    const script = `
    const { TunDevice } = require(${JSON.stringify(LIB)});
    TunDevice.fromFd(3).then(async (dev) => {
      await dev.addAddress('10.77.0.1/24');
      await dev.setMtu(1300);
      console.log(JSON.stringify({ index: dev.index, link: (await dev.link()).name }));
      await dev.close();
    }).catch((e) => { console.error(e); process.exit(1); });`;
    // The child's own namespace is ours: only the fd knows where the device is.
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit', theirs.fd] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), { index: theirs.index, link: name });
    const inTheirs = execFileSync('ip', ['-n', ns.name, '-j', 'addr', 'show', 'dev', name], { encoding: 'utf8' });
    assert.match(inTheirs, /10\.77\.0\.1/);
    assert.match(inTheirs, /"mtu":1300/);
    const inOurs = execFileSync('ip', ['-j', 'addr', 'show', 'dev', ours.name], { encoding: 'utf8' });
    assert.doesNotMatch(inOurs, /10\.77\.0\.1/);
    assert.doesNotMatch(inOurs, /"mtu":1300/);
  },
);
