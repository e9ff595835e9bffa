// Lifetimes and re-entrancy (issue 13): user code that closes inside our
// callbacks, detaches memory we handed out, writes late, or forgets to close.
// Each test names the failure it guards against.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { openSync, closeSync, readFileSync, readlinkSync } from 'node:fs';
import { Netlink, TunDevice } from '../lib';
import { gc } from './gc';
import { until, LIB } from './kernel-helpers';
import { bringUp, linkExists, linkStats, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { numberedIntact, numberedPacket, openUp, sendNumbered, sequenceOf } from './numbered';

for (const readerThread of [false, true]) {
  privilegedTest(
    `a readBatches handler may transfer away the descriptors and slab it was given; later batches are intact${readerThread ? ' (reader thread)' : ''}`,
    async () => {
      // A small maxBatch: the thread reads only once a wake-up finds a full
      // batch and more waiting, which the rounds of 40 then do.
      const { dev, net } = await openUp('xfer', { readerThread, ...(readerThread ? { maxBatch: 16 } : {}) });
      await using _ = dev;
      const seen: number[] = [];
      let detachedGiven = 0;
      dev.readBatches((slab, d, count) => {
        if (d.length === 0 || slab.length === 0) detachedGiven++;
        for (let i = 0; i < count; i++) {
          const s = sequenceOf(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
          if (s >= 0) seen.push(s);
        }
        // What a handler that offloads a batch to a worker does with postMessage(x, [x.buffer]).
        structuredClone(d.buffer, { transfer: [d.buffer as ArrayBuffer] });
        try {
          structuredClone(slab.buffer, { transfer: [slab.buffer as ArrayBuffer] });
        } catch {
          // Memory the runtime does not let go of is fine too: it is then never detached.
        }
        gc();
      });
      for (let round = 0; round < 5; round++) {
        await sendNumbered(net.host(2), 40);
        await until(() => seen.length >= 40 * (round + 1), `${40 * (round + 1)} packets`);
        gc();
      }
      assert.equal(detachedGiven, 0, 'a batch was handed a detached array');
      assert.deepEqual(
        seen,
        Array.from({ length: 200 }, (_, i) => i % 40),
      );
    },
  );
}

for (const readerThread of [false, true]) {
  privilegedTest(
    `a 'data' handler may transfer a packet's memory away; the packets after it, in its batch and later, arrive intact (9000 and 1200 bytes${readerThread ? ', reader thread' : ''})`,
    async () => {
      const { dev, net } = await openUp('pxfer', { readerThread });
      await using _ = dev;
      execFileSync('ip', ['link', 'set', 'dev', dev.name, 'mtu', '9000', 'txqueuelen', '10000']);
      const seen: number[] = [];
      const damaged: number[] = [];
      let transferred = 0;
      dev.readable.on('data', (p: Buffer) => {
        const s = sequenceOf(p);
        if (s < 0) return;
        seen.push(s);
        if (!numberedIntact(p)) damaged.push(s);
        // What a handler that hands packets to a worker does with
        // postMessage(p.buffer, [p.buffer]). The memory holds the packets
        // after this one too: it must not be detached under them.
        if (s % 7 === 0) {
          const memory = p.buffer as ArrayBuffer;
          structuredClone(memory, { transfer: [memory] });
          transferred++;
        }
      });
      // Large packets (slabs of V8's own memory, which could be detached),
      // then small ones (pooled), queued before reading resumes so that
      // each wake-up pushes batches of many.
      let sent = 0;
      for (const size of [8972, 1200, 8972]) {
        dev.readable.pause();
        await sendNumbered(net.host(2), 400, sent, size);
        sent += 400;
        dev.readable.resume();
        await until(() => seen.length === sent, `${sent} packets`);
      }
      assert.ok(transferred > 100);
      assert.deepEqual(
        seen,
        Array.from({ length: sent }, (_, i) => i),
      );
      assert.deepEqual(damaged, []);
    },
  );
}

/** Queues `count` numbered packets in the kernel ring before anyone reads them. */
async function queued(prefix: string, count: number) {
  const { dev, net } = await openUp(prefix);
  // Delivered to the device's ring within the send: nobody reads yet.
  await sendNumbered(net.host(2), count);
  return dev;
}

privilegedTest(
  "destroy() inside a 'data' handler releases the fd at once and ends readable after the batch, with no error",
  async () => {
    const dev = await queued('ddat', 50);
    const seen: number[] = [];
    const errors: Error[] = [];
    let fdAfterDestroy: number | undefined;
    dev.on('error', (e) => errors.push(e));
    dev.readable.on('data', (p: Buffer) => {
      const s = sequenceOf(p);
      if (s >= 0) seen.push(s);
      if (fdAfterDestroy === undefined) {
        dev.destroy();
        fdAfterDestroy = dev.fd;
      }
    });
    await Promise.all([once(dev, 'close'), once(dev.readable, 'end')]);
    assert.equal(fdAfterDestroy, -1);
    assert.equal(linkExists(dev.name), false);
    // What the kernel had handed over in that batch is still delivered, never pushed after the end.
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.deepEqual(errors, []);
  },
);

privilegedTest("close() inside a 'data' handler delivers the rest of the batch, then ends", async () => {
  const dev = await queued('cdat', 50);
  const seen: number[] = [];
  let closing: Promise<void> | undefined;
  dev.readable.on('data', (p: Buffer) => {
    const s = sequenceOf(p);
    if (s >= 0) seen.push(s);
    closing ??= dev.close();
  });
  await once(dev.readable, 'end');
  await closing;
  assert.deepEqual(
    seen,
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.equal(dev.fd, -1);
});

privilegedTest(
  'a write after close() began, with no error listener anywhere, calls back with an error and close() settles',
  async () => {
    const { dev, net } = await openUp('late');
    const closing = dev.close();
    const error = await new Promise<Error | null | undefined>((resolve) => dev.writable.write(numberedPacket(net, 1), resolve));
    assert.equal((error as NodeJS.ErrnoException | undefined)?.code, 'ERR_STREAM_WRITE_AFTER_END');
    const warned = once(process, 'warning');
    assert.equal(dev.writable.write(numberedPacket(net, 2)), false);
    const [warning] = (await warned) as [Error & { code?: string }];
    assert.equal(warning.code, 'ERR_STREAM_WRITE_AFTER_END');
    await closing;
    assert.equal(dev.fd, -1);
  },
);

privilegedTest('writable.end(chunk) checks the chunk like write() and close() still settles', async () => {
  const { dev, net } = await openUp('endc');
  assert.throws(() => dev.writable.end('hello'), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => dev.writable.end(Buffer.alloc(0)), { code: 'ERR_OUT_OF_RANGE' });
  const written = new Promise<void>((resolve, reject) => dev.writable.once('finish', resolve).once('error', reject));
  dev.writable.end(numberedPacket(net, 7));
  await written;
  await dev.close();
  assert.equal(dev.fd, -1);
});

privilegedTest('writes queued on a detached queue reach the kernel, and close() flushes them', async () => {
  const net = uniqueSubnet();
  const name = uniqueName('dqw');
  const a = await TunDevice.open({ name, multiQueue: true });
  const b = await TunDevice.open({ name, multiQueue: true });
  bringUp(name, net);
  await a.detachQueue();
  const before = linkStats(name).rx.packets;
  for (let i = 0; i < 20; i++) a.writable.write(numberedPacket(net, i));
  await a.close();
  assert.equal(linkStats(name).rx.packets - before, 20);
  await b.close();
});

privilegedTest('fromFd() refuses an fd another TunDevice owns and leaves the owner working', async () => {
  const { dev, net } = await openUp('own');
  await using _ = dev;
  await assert.rejects(TunDevice.fromFd(dev.fd), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.ok(dev.fd >= 0);
  assert.match(readlinkSync(`/proc/self/fd/${dev.fd}`), /tun/);
  const before = linkStats(dev.name).rx.packets;
  await new Promise<void>((resolve, reject) => dev.writable.write(numberedPacket(net, 1), (e) => (e ? reject(e) : resolve())));
  assert.equal(linkStats(dev.name).rx.packets - before, 1);
});

privilegedTest('fromFd() on a file that is no TUN queue changes nothing about it', async () => {
  const fd = openSync('/dev/null', 'r');
  try {
    const flags = () => parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    const before = flags();
    await assert.rejects(TunDevice.fromFd(fd), { name: 'TunError', code: 'ENOTTY' });
    assert.equal(flags(), before);
    assert.equal(flags() & 0o4000, 0, 'O_NONBLOCK was set');
  } finally {
    closeSync(fd);
  }
});

privilegedTest("a 'drop' handler that writes again does not disturb the burst being written", async () => {
  const { dev, net } = await openUp('drw');
  await using _ = dev;
  const bad = (i: number) => Buffer.from([0x00, i, 0, 0, 0, 0]); // IP version 0: the kernel refuses it
  const dropped: Buffer[] = [];
  const inner = Buffer.concat([numberedPacket(net, 100), numberedPacket(net, 101)]);
  dev.on('drop', (packet) => {
    dropped.push(packet);
    dev.writePackets(inner, new Uint32Array([0, 32, 32, 32]), 2);
  });
  const burst: Buffer[] = [];
  for (let i = 0; i < 40; i++) burst.push(i % 4 === 0 ? bad(i) : numberedPacket(net, i));
  dev.writable.cork();
  for (const p of burst) dev.writable.write(p);
  process.nextTick(() => dev.writable.uncork());
  await new Promise<void>((resolve) => dev.writable.write(numberedPacket(net, 999), () => resolve()));
  assert.deepEqual(
    dropped.map((p) => p[1]),
    [0, 4, 8, 12, 16, 20, 24, 28, 32, 36],
  );
});

privilegedTest('writePackets checks every descriptor before writing any, like write()', async () => {
  const { dev, net } = await openUp('wpr');
  await using _ = dev;
  const buffer = Buffer.concat([numberedPacket(net, 1), numberedPacket(net, 2)]);
  const before = linkStats(dev.name).rx.packets;
  assert.throws(() => dev.writePackets(buffer, new Uint32Array([0, 32, 32, 40]), 2), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => dev.writePackets(buffer, new Uint32Array([0, 0]), 1), { code: 'ERR_OUT_OF_RANGE' });
  const memory = new ArrayBuffer(32);
  const detached = Buffer.from(memory);
  numberedPacket(net, 3).copy(detached);
  structuredClone(memory, { transfer: [memory] });
  assert.throws(() => dev.writePackets(detached, new Uint32Array([0, 32]), 1), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(linkStats(dev.name).rx.packets, before);
});

privilegedTest("destroy() inside a 'drop' handler during writePackets stops the drops", async () => {
  const { dev } = await openUp('wpd');
  const buffer = Buffer.alloc(60);
  let drops = 0;
  dev.on('drop', () => {
    drops++;
    dev.destroy();
  });
  const done = dev.writePackets(buffer, new Uint32Array([0, 20, 20, 20, 40, 20]), 3);
  assert.equal(drops, 1);
  assert.equal(done, 1);
  assert.equal(dev.fd, -1);
});

privilegedTest('a device nobody closed and nobody references is collected, and its fd released', async () => {
  const name = uniqueName('gcd');
  await (async () => {
    const dev = await TunDevice.open({ name });
    dev.on('drop', () => {}); // a listener, as real code has: it must not pin the device
  })();
  assert.equal(linkExists(name), true);
  await until(
    () => {
      gc();
      return !linkExists(name);
    },
    'the forgotten device to be collected and its fd closed',
    10_000,
  );
});

privilegedTest('a device that is reading is kept alive though nobody references it', async () => {
  const net = uniqueSubnet();
  let seen = 0;
  await (async () => {
    const dev = await TunDevice.open({ name: uniqueName('gcr') });
    bringUp(dev.name, net);
    dev.readable.on('data', (p: Buffer) => {
      if (sequenceOf(p) >= 0) seen++;
      if (seen === 10) dev.destroy();
    });
  })();
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  await sendNumbered(net.host(2), 10);
  await until(() => seen === 10, '10 packets to a device only its listener knows');
});

/** Runs `code` in a fresh node (same namespace) and says whether it exited by itself in time. */
async function exitsByItself(code: string): Promise<{ code: number | null; stderr: string }> {
  const child = run(process.execPath, ['-e', `const { TunDevice } = require(${JSON.stringify(LIB)});\n${code}`], {
    timeout: 30_000,
  });
  return child;
}

privilegedTest('unref() lets the process exit with link listeners attached', async () => {
  const r = await exitsByItself(`(async () => {
    const dev = await TunDevice.open({ name: '' });
    dev.on('up', () => {});
    dev.on('addressAdded', () => {});
    dev.unref();
  })();`);
  assert.equal(r.code, 0, r.stderr);
});

privilegedTest('removing the last link listener closes the link socket, so the process can exit', async () => {
  const r = await exitsByItself(`(async () => {
    const dev = await TunDevice.open({ name: '' });
    const f = () => {};
    dev.on('up', f);
    dev.on('down', f);
    dev.off('up', f);
    dev.off('down', f);
    dev.unref();
  })();`);
  assert.equal(r.code, 0, r.stderr);
});

privilegedTest('a watcher and device link events keep coming after the socket overflows (ENOBUFS)', async () => {
  const { dev, net } = await openUp('nob');
  await using _ = dev;
  using watcher = await Netlink.watch();
  // As root the 4 MiB asked for is granted (SO_RCVBUFFORCE); the kernel says so.
  assert.equal(watcher.receiveBufferSize, 4 * 1024 * 1024);
  const overruns: string[] = [];
  watcher.on('error', (e) => overruns.push(e.code));
  const added: string[] = [];
  watcher.on('address', (a) => added.push(a.address));
  const devAdded: string[] = [];
  dev.on('addressAdded', (a) => devAdded.push(a.address));
  await dev.addAddress(`${net.host(200)}/32`); // the device's link socket is open and in sync
  await until(() => devAdded.length === 1, 'the first addressAdded');
  // Thousands of changes while this thread is blocked: both sockets' queues overflow.
  const lines: string[] = [];
  for (let i = 0; i < 6000; i++) {
    lines.push(
      `address add 10.250.${i >> 8}.${i & 255}/32 dev ${dev.name}`,
      `address del 10.250.${i >> 8}.${i & 255}/32 dev ${dev.name}`,
    );
  }
  execFileSync('ip', ['-batch', '-'], { input: lines.join('\n') });
  await until(() => overruns.includes('ENOBUFS'), 'the watcher to report the overrun');
  // While the queue is still congested the kernel drops new events without
  // a second ENOBUFS: wait until the backlog is read (no event for 300 ms).
  let last = -1;
  await until(
    () => {
      const quiet = added.length === last;
      last = added.length;
      return quiet;
    },
    'the backlog to drain',
    20_000,
    300,
  );
  await dev.addAddress(`${net.host(201)}/32`);
  await until(
    () => added.includes(net.host(201)),
    `the watcher (heard ${added.length}, overruns ${overruns.join()}) to hear an address added after the overrun`,
    10_000,
  );
  await until(() => devAdded.includes(net.host(201)), "the device's addressAdded after the overrun");
});

privilegedTest(
  'writable.end(chunk, encoding, callback) writes the chunk and calls back, in each of Node end() forms',
  async () => {
    for (const form of ['chunk, cb', 'chunk, encoding, cb', 'cb'] as const) {
      const { dev, net } = await openUp('endf');
      const before = linkStats(dev.name).rx.packets;
      await new Promise<void>((resolve) => {
        if (form === 'chunk, cb') dev.writable.end(numberedPacket(net, 1), resolve);
        else if (form === 'chunk, encoding, cb') dev.writable.end(numberedPacket(net, 1), 'binary', resolve);
        else dev.writable.end(resolve);
      });
      assert.equal(linkStats(dev.name).rx.packets - before, form === 'cb' ? 0 : 1, form);
      await dev.close();
    }
  },
);
