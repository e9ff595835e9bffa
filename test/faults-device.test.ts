// The device goes away under a busy reader or writer (deleted, or its
// namespace removed), and the process ends with devices open: each is
// reported, closes cleanly and releases the fd; the process ends promptly.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { TunDevice, ipv4UdpPacket } from '../lib';
import { assertCleanExit, echoRequest, faultTest, runChild, transcript } from './fault-helpers';
import {
  boundUdpSocket,
  bringUp,
  ip,
  linkExists,
  openFdCount,
  privilegedTest,
  rejectAfter,
  uniqueName,
  uniqueSubnet,
} from './helpers';

/** Waits for the device's 'error' then 'close' (bounded), and returns the error. */
async function reportedAndClosed(dev: TunDevice, errors: Error[], what: string): Promise<Error> {
  if (!dev.closed || errors.length === 0) {
    await Promise.race([
      once(dev, 'close'),
      rejectAfter(30_000, () => `${what}: no 'close' (errors: ${errors.map((e) => e.message).join('; ')})`),
    ]);
  }
  assert.equal(errors.length, 1, `one error event: ${errors.map((e) => e.message).join('; ')}`);
  assert.equal(dev.closed, true);
  assert.equal(dev.fd, -1);
  await Promise.race([dev.close(), rejectAfter(30_000, () => `${what}: close() did not settle`)]);
  return errors[0];
}

for (const readerThread of [false, true]) {
  privilegedTest(
    `deleting the device while it reads a flood${readerThread ? ' on a reader thread' : ''} is reported once as an error, and it closes and releases the fd`,
    async () => {
      const fdsBefore = openFdCount();
      const net = uniqueSubnet();
      // A small maxBatch: the thread reads only once a wake-up finds a full
      // batch and more waiting, which this flood's bursts of 50 then do.
      const dev = await TunDevice.open({ name: uniqueName('fdr'), readerThread, ...(readerThread ? { maxBatch: 16 } : {}) });
      const errors: Error[] = [];
      dev.on('error', (e) => errors.push(e));
      bringUp(dev.name, net);
      const { socket } = await boundUdpSocket(net.host(1));
      let read = 0;
      let deleted = false;
      dev.readable.on('data', () => {
        if (++read === 200 && !deleted) {
          deleted = true;
          ip('link', 'del', dev.name);
        }
      });
      const deadline = Date.now() + 30_000;
      while (!dev.closed && Date.now() < deadline) {
        for (let i = 0; i < 50; i++) socket.send(Buffer.alloc(64), 9, net.host(2));
        await new Promise((resolve) => setImmediate(resolve));
      }
      socket.close();
      assert.ok(deleted, `the flood reached the reader (${read} packets)`);
      const error = await reportedAndClosed(dev, errors, 'deleted under a reader');
      assert.equal((error as NodeJS.ErrnoException).code, 'EBADFD');
      assert.equal(linkExists(dev.name), false);
      assert.equal(openFdCount(), fdsBefore, 'the fd is released');
    },
  );
}

privilegedTest(
  'deleting the device in the middle of a burst of writes fails the burst, calls back every write once, and releases the fd',
  async () => {
    const fdsBefore = openFdCount();
    const net = uniqueSubnet();
    const dev = await TunDevice.open({ name: uniqueName('fdw') });
    const errors: Error[] = [];
    dev.on('error', (e) => errors.push(e));
    bringUp(dev.name, net);
    const packet = ipv4UdpPacket({
      source: net.host(2),
      destination: net.host(1),
      sourcePort: 9,
      destinationPort: 9,
      payload: Buffer.alloc(64),
    });
    const callbacks = new Map<number, number>();
    const codes = new Map<string, number>();
    let issued = 0;
    let deleted = false;
    const deadline = Date.now() + 30_000;
    while (!dev.closed && Date.now() < deadline) {
      for (let i = 0; i < 256; i++) {
        const n = issued++;
        dev.writable.write(packet, (e) => {
          callbacks.set(n, (callbacks.get(n) ?? 0) + 1);
          const code = (e as NodeJS.ErrnoException | null | undefined)?.code ?? 'ok';
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (callbacks.size === 5000 && !deleted) {
            deleted = true;
            ip('link', 'del', dev.name);
          }
        });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const error = await reportedAndClosed(dev, errors, 'deleted under a writer');
    assert.ok(deleted, 'the device was deleted mid-burst');
    assert.match((error as NodeJS.ErrnoException).code ?? '', /^(EBADFD|ENODEV|ENXIO|EBADF)$/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(callbacks.size, issued, `every write called back (${JSON.stringify([...codes])})`);
    assert.ok(
      [...callbacks.values()].every((n) => n === 1),
      'and each exactly once',
    );
    assert.ok((codes.get('ok') ?? 0) >= 5000, 'the writes before the deletion succeeded');
    assert.equal(openFdCount(), fdsBefore, 'the fd is released');
  },
);

/** A namespace (ip netns) holding `device` at 10.x.y.1/24, up; the subnet's .2 is ours. */
function namespaceHolding(device: string): { ns: string; local: string; peer: string } {
  const net = uniqueSubnet();
  const ns = uniqueName('fns');
  ip('netns', 'add', ns);
  ip('link', 'set', device, 'netns', ns);
  ip('-n', ns, 'addr', 'add', `${net.host(1)}/24`, 'dev', device);
  ip('-n', ns, 'link', 'set', device, 'up');
  return { ns, local: net.host(1), peer: net.host(2) };
}

privilegedTest(
  'removing the namespace that holds the device while it reads is reported as an error, and it closes and releases the fd',
  async () => {
    const fdsBefore = openFdCount();
    const dev = await TunDevice.open({ name: uniqueName('fnr') });
    const errors: Error[] = [];
    dev.on('error', (e) => errors.push(e));
    // Moved, not opened there: no fd of ours holds the namespace, so removing
    // its name ends it, and the kernel deletes the TUN device inside.
    const { ns, local, peer } = namespaceHolding(dev.name);
    let replies = 0;
    let removed = false;
    dev.readable.on('data', () => {
      if (++replies === 100 && !removed) {
        removed = true;
        ip('netns', 'del', ns);
      }
    });
    const deadline = Date.now() + 30_000;
    for (let seq = 0; !dev.closed && Date.now() < deadline;) {
      for (let i = 0; i < 16 && !dev.writable.destroyed; i++) dev.writable.write(echoRequest(peer, local, seq++), () => {});
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (!removed) ip('netns', 'del', ns);
    assert.ok(removed, `the namespace answered (${replies} replies)`);
    const error = await reportedAndClosed(dev, errors, 'namespace removed');
    assert.match((error as NodeJS.ErrnoException).code ?? '', /^(EBADFD|ENODEV|ENXIO|EBADF)$/);
    assert.equal(openFdCount(), fdsBefore, 'the fd is released');
  },
);

privilegedTest(
  'a device opened inside a namespace keeps reading after the namespace is removed by name, then closes',
  async () => {
    const fdsBefore = openFdCount();
    const ns = uniqueName('fno');
    ip('netns', 'add', ns);
    let dev: TunDevice | undefined;
    try {
      // The fd's socket holds the namespace it was opened in: removing the
      // name leaves the namespace, and the device, alive until the fd closes.
      dev = await TunDevice.open({ name: uniqueName('fnd'), netns: `/var/run/netns/${ns}` });
      const net = uniqueSubnet();
      await dev.addAddress(`${net.host(1)}/24`);
      await dev.up();
      let replies = 0;
      dev.readable.on('data', () => replies++);
      const ping = async (until: number): Promise<void> => {
        for (let seq = 0; replies < until && seq < 20_000; seq++) {
          dev!.writable.write(echoRequest(net.host(2), net.host(1), seq));
          if (seq % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 1));
        }
      };
      await ping(50);
      ip('netns', 'del', ns);
      const before = replies;
      await ping(before + 50);
      assert.ok(
        replies >= before + 50,
        `the device still answers after its namespace lost its name (${replies - before} more replies)`,
      );
      await Promise.race([dev.close(), rejectAfter(30_000, () => 'close() did not settle')]);
    } finally {
      await dev?.close();
      if (existsSync(`/var/run/netns/${ns}`)) ip('netns', 'del', ns);
    }
    assert.equal(openFdCount(), fdsBefore, 'the fd is released');
  },
);

faultTest(
  'a process that exits with devices open, writes queued and link listeners attached ends at once with code 0',
  async () => {
    const run = await runChild('exit-open', ['exit'], { timeoutMs: 60_000 });
    assertCleanExit(run);
    const names = /^open (.*)$/m.exec(run.stdout)?.[1].split(' ') ?? [];
    assert.equal(names.length, 4, transcript(run));
    for (const name of names) assert.equal(linkExists(name), false, `${name} is gone with the process`);
  },
);

faultTest(
  'a process whose devices are all unref()ed ends by itself with devices open, writes queued and link listeners attached',
  async () => {
    const run = await runChild('exit-open', ['unref'], { timeoutMs: 60_000 });
    assertCleanExit(run);
  },
);
