// Opening a device in another network namespace without re-exec: the
// opening thread enters it for the open only, and always comes back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { TunDevice } from '../lib';
import { linkExists, privilegedTest, uniqueName } from './helpers';

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
  assert.equal(dev.mtu, 1500, 'mtu is asked in the device namespace');
});

privilegedTest('a failed open in another namespace (the name is in use there) leaves the thread in its own', async (t) => {
  const ns = withNamedNetns(t);
  const before = here();
  await using first = await TunDevice.open({ name: uniqueName('nsb'), netns: ns.path });
  await assert.rejects(TunDevice.open({ name: first.name, netns: ns.path }), { name: 'TunError', code: 'EBUSY', syscall: 'ioctl(TUNSETIFF)' });
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
