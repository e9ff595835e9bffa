// A device opened with `netns` is bound to the namespace that was there at
// open: a namespace path is only a name, and `ip netns del NAME; ip netns add
// NAME` points it at another namespace while the device lives on in the first.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fstatSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Netlink, TunDevice } from '../lib';
import { privilegedTest, uniqueName } from './helpers';

interface Addr {
  ifname: string;
  flags: string[];
  mtu: number;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

/** Runs `ip` in the namespace a file names: the oracle for a namespace whose name was taken by another. */
function ipIn(file: string, ...args: string[]): string {
  return execFileSync('nsenter', [`--net=${file}`, 'ip', ...args], { encoding: 'utf8' });
}

/**
 * A named namespace, also bind-mounted at `kept`, so that it can still be
 * looked at (and stays alive) after its name is deleted and reused.
 */
function namespaceKept(t: { after: (fn: () => void) => void }): { name: string; path: string; kept: string } {
  const name = `tuntap-${process.pid}-${uniqueName('bd')}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-ns-'));
  const kept = path.join(dir, 'net');
  writeFileSync(kept, '');
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('mount', ['--bind', `/var/run/netns/${name}`, kept]);
  t.after(() => {
    spawnSync('umount', [kept]);
    spawnSync('ip', ['netns', 'del', name]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { name, path: `/var/run/netns/${name}`, kept };
}

/**
 * `ip netns del NAME; ip netns add NAME`, with a link in the new namespace
 * that has the device's index (the first link after lo gets the same number
 * in both), so that acting by index in the wrong namespace would hit it.
 */
function reuseName(name: string, index: number): void {
  execFileSync('ip', ['netns', 'del', name]);
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'tuntap', 'add', 'mode', 'tun', 'name', 'impostor']);
  const [impostor] = JSON.parse(
    execFileSync('ip', ['-n', name, '-j', 'link', 'show', 'impostor'], { encoding: 'utf8' }),
  ) as Array<{ ifindex: number }>;
  assert.equal(impostor.ifindex, index, 'the impostor has the device index');
}

privilegedTest(
  "after the namespace's name is deleted and made again, the device's helpers still configure the device",
  async (t) => {
    const ns = namespaceKept(t);
    await using dev = await TunDevice.open({ name: uniqueName('bd'), netns: ns.path });
    reuseName(ns.name, dev.index);

    await dev.addAddress('10.78.0.1/24');
    await dev.setMtu(1400);
    await dev.up();
    assert.equal((await dev.link()).name, dev.name);
    assert.equal(await dev.getMtu(), 1400);

    const old = JSON.parse(ipIn(ns.kept, '-j', 'addr', 'show', 'dev', dev.name)) as Addr[];
    assert.ok(
      old[0].addr_info.some((a) => a.local === '10.78.0.1'),
      'the address is on the device',
    );
    assert.equal(old[0].mtu, 1400);
    assert.ok(old[0].flags.includes('UP'));
    const impostor = JSON.parse(
      execFileSync('ip', ['-n', ns.name, '-j', 'addr', 'show', 'dev', 'impostor'], { encoding: 'utf8' }),
    ) as Addr[];
    assert.deepEqual(impostor[0].addr_info, [], 'the link with the same index in the new namespace is untouched');
    assert.equal(impostor[0].flags.includes('UP'), false);
  },
);

privilegedTest("after the namespace's name is reused, the device's link events still come from the device", async (t) => {
  const ns = namespaceKept(t);
  await using dev = await TunDevice.open({ name: uniqueName('be'), netns: ns.path });
  reuseName(ns.name, dev.index);
  const up = once(dev, 'up');
  await dev.up();
  const [link] = (await up) as [{ name: string }];
  assert.equal(link.name, dev.name);
});

privilegedTest('Netlink.open({ netns }) keeps speaking for the namespace it opened after the name is reused', async (t) => {
  const ns = namespaceKept(t);
  const nl = await Netlink.open({ netns: ns.path });
  t.after(() => nl.close());
  execFileSync('ip', ['-n', ns.name, 'tuntap', 'add', 'mode', 'tun', 'name', 'first0']);
  const index = (await nl.link('first0')).index;
  execFileSync('ip', ['-n', ns.name, 'tuntap', 'del', 'mode', 'tun', 'name', 'first0']);
  execFileSync('ip', ['-n', ns.name, 'tuntap', 'add', 'mode', 'tun', 'name', 'second0']);
  reuseName(ns.name, index);
  assert.deepEqual((await nl.links()).map((l) => l.name).sort(), ['lo', 'second0']);
});

privilegedTest('closing the device lets go of the namespace it held', async (t) => {
  const ns = namespaceKept(t);
  const dev = await TunDevice.open({ name: uniqueName('bf'), netns: ns.path });
  assert.equal(fdsOn(ns.path), 1, 'the device holds one fd on its namespace while open');
  await dev.close();
  assert.equal(fdsOn(ns.path), 0);
});

/** How many of our fds are open on the network namespace at `file`. */
function fdsOn(file: string): number {
  const ns = statSync(file);
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const s = fstatSync(Number(fd));
      if (s.ino === ns.ino && s.dev === ns.dev) n += 1;
    } catch {
      // closed meanwhile (the fd readdir itself used)
    }
  }
  return n;
}

/**
 * Runs `code` in a child Node with a deadline: a call that blocks the event
 * loop cannot be timed out from inside it.
 */
function runWithDeadline(code: string, ms: number): { status: number | null; stdout: string; stderr: string; timedOut: boolean } {
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: ms, cwd: path.join(__dirname, '..', '..') });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, timedOut: r.error !== undefined || r.signal !== null };
}

test('a FIFO given as netns fails at once with EINVAL instead of blocking the event loop', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-fifo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'ns');
  execFileSync('mkfifo', [fifo]);
  const code = `
    const { TunDevice, Netlink } = require('./dist/lib');
    const fifo = ${JSON.stringify(fifo)};
    (async () => {
      const out = [];
      for (const attempt of [() => TunDevice.open({ netns: fifo }), () => Netlink.open({ netns: fifo }), () => Netlink.watch({ netns: fifo })]) {
        try { const x = await attempt(); x.close(); out.push('opened'); } catch (e) { out.push(e.code + ' ' + e.syscall); }
      }
      console.log(JSON.stringify(out));
    })();`;
  const r = runWithDeadline(code, 30_000);
  assert.equal(r.timedOut, false, `blocked: ${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout), ['EINVAL setns', 'EINVAL setns', 'EINVAL setns']);
});

test('NUL bytes in path or netns are refused with ERR_INVALID_ARG_VALUE before any syscall, as Node fs does', async () => {
  const refused = { code: 'ERR_INVALID_ARG_VALUE', message: /null bytes/ };
  await assert.rejects(TunDevice.open({ path: '/dev/net/tun\0/not/this' }), refused);
  await assert.rejects(TunDevice.open({ netns: '/proc/self/ns/net\0/x' }), refused);
  await assert.rejects(TunDevice.create({ name: 'nul0', netns: '/proc/self/ns/net\0' }), refused);
  await assert.rejects(TunDevice.delete('nul0', { path: '/dev/net/tun\0' }), refused);
  await assert.rejects(Netlink.open({ netns: '/proc/self/ns/net\0' }), refused);
  await assert.rejects(Netlink.watch({ netns: '/proc/self/ns/net\0' }), refused);
});

privilegedTest('deleting a device that does not exist fails with ENODEV from netlink and never creates it', async () => {
  const name = uniqueName('gone');
  const watcher = await Netlink.watch({ links: true, addresses: false });
  const seen: string[] = [];
  watcher.on('link', (l) => seen.push(l.name));
  watcher.on('linkRemoved', (l) => seen.push(l.name));
  try {
    await assert.rejects(TunDevice.delete(name), {
      name: 'TunError',
      code: 'ENODEV',
      syscall: 'netlink RTM_GETLINK',
      device: name,
    });
    // A link made after the delete: once its event is here, any event the
    // delete caused (queued before it) has been seen too.
    const marker = uniqueName('mark');
    const markerSeen = new Promise<void>((resolve) => watcher.on('link', (l) => l.name === marker && resolve()));
    execFileSync('ip', ['tuntap', 'add', 'mode', 'tun', 'name', marker]);
    await markerSeen;
    execFileSync('ip', ['tuntap', 'del', 'mode', 'tun', 'name', marker]);
    assert.deepEqual(
      seen.filter((n) => n === name),
      [],
      'the device never appeared',
    );
  } finally {
    watcher.close();
  }
});
