// Bad input is refused before any syscall; kernel refusals are clear errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { TunDevice, TunError } from '../lib';
import { bringUp, linkExists, linkStats, privilegedTest, uniqueName, uniqueSubnet } from './helpers';

const badOptions: Array<[string, unknown, string]> = [
  ['a name of 16 bytes', { name: 'abcdefghijklmnop' }, 'ERR_INVALID_ARG_VALUE'],
  ['a name of 15 bytes in 8 characters', { name: 'ééééééééa' }, 'ERR_INVALID_ARG_VALUE'],
  ["a name with '/'", { name: 'tun/1' }, 'ERR_INVALID_ARG_VALUE'],
  ['a name with a space', { name: 'tun 1' }, 'ERR_INVALID_ARG_VALUE'],
  ["the name '..'", { name: '..' }, 'ERR_INVALID_ARG_VALUE'],
  ['a name that is not a string', { name: 7 }, 'ERR_INVALID_ARG_TYPE'],
  ['an unknown mode', { mode: 'tunnel' }, 'ERR_INVALID_ARG_VALUE'],
  ['packetInfo that is not a boolean', { packetInfo: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
  ['a maxBatch of 0', { maxBatch: 0 }, 'ERR_OUT_OF_RANGE'],
  ['options that are not an object', 'tun1', 'ERR_INVALID_ARG_TYPE'],
];

for (const [what, options, code] of badOptions) {
  test(`open() with ${what} rejects with ${code} before any syscall`, async () => {
    // A path that does not exist: had open() reached a syscall, it would say ENOENT.
    const opts = typeof options === 'object' && options !== null ? { ...options, path: '/nonexistent/tun' } : options;
    await assert.rejects(TunDevice.open(opts as never), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, code);
      assert.ok(e instanceof TypeError || e instanceof RangeError);
      return true;
    });
  });
}

test('a missing clone device gives ENOENT saying the tun module is missing', async () => {
  await assert.rejects(TunDevice.open({ path: '/nonexistent/tun' }), (e: TunError) => {
    assert.ok(e instanceof TunError);
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.errno, -2);
    assert.equal(e.syscall, 'open');
    assert.match(e.message, /modprobe tun/);
    return true;
  });
});

privilegedTest('a second open of a name in use gives EBUSY and leaves the first working', async () => {
  const name = uniqueName('busy');
  await using first = await TunDevice.open({ name });
  await assert.rejects(TunDevice.open({ name }), (e: TunError) => {
    assert.equal(e.code, 'EBUSY');
    assert.equal(e.syscall, 'ioctl(TUNSETIFF)');
    assert.match(e.message, /multiQueue/);
    return true;
  });
  assert.ok(linkExists(name));
  assert.ok((await first.getMtu()) > 0);
});

privilegedTest('opening an existing TAP name as TUN gives EINVAL naming the flag mismatch', async () => {
  const name = uniqueName('mism');
  await using _tap = await TunDevice.open({ name, mode: 'tap' });
  await assert.rejects(TunDevice.open({ name, mode: 'tun' }), { code: 'EINVAL', message: /TUN vs TAP/ });
});

privilegedTest('writes of a non-buffer, an empty or an oversized packet throw before any syscall', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('wbad') });
  assert.throws(() => dev.writable.write('a string' as never), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
  assert.throws(() => dev.writable.write({} as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => dev.writable.write(Buffer.alloc(0)), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
  assert.throws(() => dev.writable.write(Buffer.alloc(dev.maxPacketSize + 1, 0x45)), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(dev.writable.destroyed, false, 'the stream is still usable');
  assert.equal(linkStats(dev.name).rx.packets, 0, 'nothing reached the kernel');
});

privilegedTest('a packet the kernel rejects is a drop event and the writable goes on', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('drop') });
  bringUp(dev.name, net);
  const drops: TunError[] = [];
  dev.on('drop', (packet, error) => {
    assert.equal(packet[0], 0x00);
    assert.ok(error instanceof TunError, 'a refusal by the kernel is a TunError');
    drops.push(error);
  });
  // TUN without packet info takes the protocol from the first nibble: 0 is neither IPv4 nor IPv6.
  const bad = Buffer.from([0x00, 1, 2, 3, 4, 5, 6, 7]);
  await new Promise<void>((resolve, reject) => dev.writable.write(bad, (e) => (e ? reject(e) : resolve())));
  assert.equal(drops.length, 1);
  assert.equal(drops[0].code, 'EINVAL');
  assert.equal(drops[0].syscall, 'write');
  // The next packet goes through.
  const good = Buffer.alloc(20);
  good[0] = 0x45;
  good.writeUInt16BE(20, 2);
  await new Promise<void>((resolve, reject) => dev.writable.write(good, (e) => (e ? reject(e) : resolve())));
  assert.equal(dev.writable.destroyed, false);
  assert.equal(drops.length, 1);
});

privilegedTest('writing to a device that is down is a drop with EIO saying so', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('down') });
  const dropped = new Promise<Error & { code: string }>((resolve) => dev.once('drop', (_p, e) => resolve(e)));
  const packet = Buffer.alloc(20);
  packet[0] = 0x45;
  dev.writable.write(packet);
  const error = await dropped;
  assert.equal(error.code, 'EIO');
  assert.match(error.message, /is down/);
});

privilegedTest('out of file descriptors, open(), on("up") and up() say EMFILE and how to raise the limit', () => {
  // prlimit lowers the child's RLIMIT_NOFILE; the child fills what is left.
  const child = path.join(__dirname, 'fault-children', 'out-of-fds.js');
  const run = spawnSync('prlimit', ['--nofile=64:64', process.execPath, child], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const steps = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, Record<string, unknown>>;
  for (const [step, syscall] of [
    ['open', 'socket(AF_UNIX)'],
    ['on', 'socket(AF_NETLINK)'],
    ['up', 'socket(AF_NETLINK)'],
  ] as const) {
    const e = steps[step]!;
    assert.equal(e.name, 'TunError', `${step}: ${JSON.stringify(e)}`);
    assert.equal(e.code, 'EMFILE', step);
    assert.equal(e.errno, -24, step);
    assert.equal(e.syscall, syscall, step);
    assert.match(String(e.hint), /ulimit -n/, step);
  }
});
