// close(): the device goes, nothing leaks, and queued writes are flushed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { TunDevice, ipv4UdpPacket } from '../lib';
import {
  boundUdpSocket,
  bringUp,
  ip,
  linkExists,
  openFdCount,
  privilegedTest,
  rejectAfter,
  rssBytes,
  uniqueName,
  uniqueSubnet,
} from './helpers';

privilegedTest('after close() the device is gone from ip link and the fd is released', async () => {
  const dev = await TunDevice.open({ name: uniqueName('cls') });
  assert.ok(linkExists(dev.name));
  const fd = dev.fd;
  assert.ok(fd >= 0);
  let closeEvents = 0;
  dev.on('close', () => closeEvents++);
  await dev.close();
  assert.equal(linkExists(dev.name), false);
  assert.equal(dev.fd, -1);
  assert.equal(dev.closed, true);
  await dev.close(); // idempotent
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closeEvents, 1);
  // readable is ended: a consumer that comes late still gets 'end'.
  dev.readable.resume();
  await once(dev.readable, 'end');
});

privilegedTest('close() twice at once returns the same promise', async () => {
  const dev = await TunDevice.open({ name: uniqueName('cl2') });
  const a = dev.close();
  const b = dev.close();
  assert.equal(a, b);
  await a;
});

privilegedTest(
  '1,000 open/close cycles leave the fd count and memory flat',
  async () => {
    const cycle = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const dev = await TunDevice.open({ name: 'ttcycle%d' });
        dev.readable.resume(); // a reading device, as users have them
        await dev.close();
      }
    };
    await cycle(100); // warm up allocators and JIT
    globalThis.gc?.();
    const fdsBefore = openFdCount();
    const rssBefore = rssBytes();
    await cycle(1000);
    globalThis.gc?.();
    const fdsAfter = openFdCount();
    const rssAfter = rssBytes();
    assert.equal(fdsAfter, fdsBefore, 'no fd leaked');
    // Each cycle makes a native handle, its descriptor array and JS objects
    // (no read slab: the device is down and reads nothing); a leak of 40 KiB
    // a cycle would cross this bound.
    assert.ok(rssAfter - rssBefore < 40 * 1024 * 1024, `RSS grew by ${((rssAfter - rssBefore) / 1048576).toFixed(1)} MiB`);
    assert.equal(linkExists('ttcycle0'), false);
  },
  { timeout: 600_000 },
);

privilegedTest('close() flushes every queued write before the fd closes', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('clf') });
  bringUp(dev.name, net);
  const { socket, port } = await boundUdpSocket(net.host(1));
  const count = 200;
  let received = 0;
  const all = new Promise<void>((resolve) => {
    socket.on('message', () => {
      if (++received === count) resolve();
    });
  });
  dev.writable.cork(); // queued in the stream when close() is called
  const callbacks: Array<Error | null | undefined> = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(32, i);
    dev.writable.write(
      ipv4UdpPacket({ source: net.host(2), destination: net.host(1), sourcePort: 9, destinationPort: port, payload }),
      (e) => callbacks.push(e),
    );
  }
  dev.readable.resume(); // a read in flight too
  await dev.close();
  assert.equal(callbacks.length, count);
  assert.ok(
    callbacks.every((e) => e == null),
    'every write succeeded',
  );
  await Promise.race([all, rejectAfter(30_000, () => `${received} of ${count} arrived`)]);
  socket.close();
});

privilegedTest('closing while packets are being read ends readable cleanly', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('clr') });
  bringUp(dev.name, net);
  const { socket } = await boundUdpSocket(net.host(1));
  // A bounded stream of datagrams into the device while we close it.
  let sent = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 50 && sent < 5000; i++, sent++) socket.send(Buffer.alloc(100), 9, net.host(2));
  }, 1);
  let read = 0;
  dev.readable.on('data', () => {
    read++;
    if (read === 20) void dev.close();
  });
  await Promise.all([once(dev.readable, 'end'), once(dev, 'close')]);
  clearInterval(timer);
  socket.close();
  assert.ok(read >= 20);
  assert.equal(linkExists(dev.name), false);
});

const writeAfter = async (dev: TunDevice): Promise<string | undefined> => {
  let streamErrors = 0;
  dev.writable.on('error', () => streamErrors++);
  const error = await new Promise<Error | null | undefined>((resolve) =>
    dev.writable.write(Buffer.from([0x45, 0, 0, 20]), resolve),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(streamErrors, 0, 'no error event: nothing for an unwary user to crash on');
  return (error as NodeJS.ErrnoException | undefined)?.code;
};

privilegedTest('a write after close() calls back with ERR_STREAM_WRITE_AFTER_END and sends nothing', async () => {
  const dev = await TunDevice.open({ name: uniqueName('cwa') });
  await dev.close();
  assert.equal(await writeAfter(dev), 'ERR_STREAM_WRITE_AFTER_END');
  await assert.rejects(dev.getMtu(), { code: 'ERR_DEVICE_CLOSED' });
});

privilegedTest('a write after destroy() calls back with ERR_STREAM_DESTROYED', async () => {
  const dev = await TunDevice.open({ name: uniqueName('cwd') });
  dev.destroy();
  assert.equal(await writeAfter(dev), 'ERR_STREAM_DESTROYED');
});

privilegedTest('destroy(error) emits error once, then close', async () => {
  const dev = await TunDevice.open({ name: uniqueName('cde') });
  const events: string[] = [];
  dev.on('error', (e) => events.push(`error:${e.message}`));
  dev.on('close', () => events.push('close'));
  const closed = new Promise<void>((resolve) => dev.once('close', () => resolve()));
  dev.destroy(new Error('boom'));
  dev.destroy(new Error('again'));
  await closed;
  assert.deepEqual(events, ['error:boom', 'close']);
  assert.equal(linkExists(dev.name), false);
});

privilegedTest('deleting the device under an open fd emits an EBADFD error and closes', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('cdel') });
  bringUp(dev.name, net);
  dev.readable.resume();
  const failed = once(dev, 'error') as Promise<[NodeJS.ErrnoException]>;
  ip('link', 'del', dev.name);
  const [error] = await Promise.race([failed, rejectAfter(30_000, () => 'no error event')]);
  assert.equal(error.code, 'EBADFD');
  assert.match(error.message, /deleted or detached/);
  if (!dev.closed) await once(dev, 'close');
  assert.equal(dev.closed, true);
});
