// TunDeviceOptions.readerThread: the reads happen on a native thread of the
// device's own (src/reader_thread.h). The same promises as the event-loop
// reader: every packet, in order, intact; backpressure that bounds what is
// taken from the kernel; memory handed out that user code may transfer away.
// Closing from inside handlers, workers ending and the device deleted under
// the thread are in the faults-* tests; transferred memory in lifetimes.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { TunDevice } from '../lib';
import { gc } from './gc';
import { until } from './kernel-helpers';
import { ip, linkExists, openFdCount, privilegedTest, rejectAfter, uniqueName } from './helpers';
import { numberedIntact, openUp, sendNumbered, sequenceOf } from './numbered';
import { SeededRandom } from './seeded-random';

const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

privilegedTest('readerThread: readable delivers every packet in order and intact', async () => {
  const { dev, net } = await openUp('rtord', { readerThread: true });
  await using _ = dev;
  // Room in the kernel's ring for every packet, however far behind the reader runs.
  ip('link', 'set', 'dev', dev.name, 'txqueuelen', '10000');
  const seen: number[] = [];
  dev.readable.on('data', (p: Buffer) => {
    const s = sequenceOf(p);
    if (s >= 0) seen.push(s);
  });
  for (let k = 0; k < 6; k++) await sendNumbered(net.host(2), 500, 500 * k);
  await until(() => seen.length >= 3000, '3000 packets');
  assert.deepEqual(seen, upTo(3000));
});

privilegedTest(
  'readerThread: with readable full and nobody reading, the thread takes at most its 12 batches from the kernel',
  async () => {
    const [highWaterMark, maxBatch, ring] = [16, 32, 100];
    const { dev, net } = await openUp('rtbp', { readerThread: true, readableHighWaterMark: highWaterMark, maxBatch });
    await using _ = dev;
    ip('link', 'set', 'dev', dev.name, 'txqueuelen', String(ring));
    const seen: number[] = [];
    const onData = (p: Buffer): void => {
      const s = sequenceOf(p);
      if (s >= 0) seen.push(s);
    };
    // Reading has started, on the thread (a burst of more than maxBatch at
    // once, within the kernel's ring, hands it the reading), then nobody consumes.
    dev.readable.on('data', onData);
    await sendNumbered(net.host(2), 90, 100_000);
    await until(() => seen.length === 90, 'the first burst');
    dev.readable.pause();
    seen.length = 0;
    await sendNumbered(net.host(2), 2000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    dev.readable.resume();
    await until(() => seen.length >= ring - 8, 'what the ring held');
    // Time for a thread that did not stop to pass on more than the bound.
    await new Promise((resolve) => setTimeout(resolve, 300));
    // readable's buffer, the thread's 12 batches in flight (kInFlight in
    // src/reader_thread.h), the kernel's ring (plus
    // the odd packet the kernel keeps beside it). A reader thread that did not
    // stop keeps up with this burst (it reads over a million packets a second)
    // and would pass on nearly all 2000.
    const bound = highWaterMark + 12 * maxBatch + ring + 8;
    assert.ok(seen.length <= bound, `${seen.length} packets came through, more than ${bound}`);
    // The kernel drops while the burst outruns the reader, so not the first N: but in order, none twice.
    assert.ok(
      seen.every((s, i) => i === 0 || s > seen[i - 1]),
      'the packets came in order',
    );
  },
);

privilegedTest('readerThread: a consumer that pauses often still gets every packet, in order', async () => {
  const { dev, net } = await openUp('rtpause', { readerThread: true, readableHighWaterMark: 4, maxBatch: 8 });
  await using _ = dev;
  ip('link', 'set', 'dev', dev.name, 'txqueuelen', '2000');
  await sendNumbered(net.host(2), 500);
  const seen: number[] = [];
  for await (const p of dev.readable as AsyncIterable<Buffer>) {
    const s = sequenceOf(p);
    if (s >= 0) seen.push(s);
    if (seen.length % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    if (seen.length === 500) break;
  }
  assert.deepEqual(seen, upTo(500));
});

privilegedTest(
  "readerThread: readable hands large batches over in the thread's own memory, and a packet kept stays intact while its memory's other packets are collected and more are read",
  async () => {
    const { dev, net } = await openUp('rtzc', { readerThread: true });
    await using _ = dev;
    ip('link', 'set', 'dev', dev.name, 'txqueuelen', '10000');
    const kept: Buffer[] = [];
    let packets = 0;
    let ownMemory = 0;
    dev.readable.on('data', (p: Buffer) => {
      if (sequenceOf(p) < 0) return;
      // Every 7th packet is kept; the others are dropped, collected, and
      // their memory goes back to the pool for the thread to read into again.
      if (packets++ % 7 === 0) kept.push(p);
      // A batch the thread read, handed over as it is: a Buffer over that
      // batch's packets alone, not a 1 MiB slab they were copied into.
      if (p.buffer.byteLength < 1 << 20) ownMemory++;
    });
    for (let round = 0; round < 10; round++) {
      // Queued while nobody reads, so the first wake-up finds more than a
      // batch and hands the reading to the thread.
      dev.readable.pause();
      await sendNumbered(net.host(2), 1000, 1000 * round, 1200);
      dev.readable.resume();
      await until(() => packets === 1000 * (round + 1), `${1000 * (round + 1)} packets`);
      gc();
      // The finalizers run on the loop, after the collection.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(ownMemory > 0, "no batch came in the reader thread's own memory");
    assert.deepEqual(
      kept.map(sequenceOf),
      Array.from({ length: Math.ceil(10_000 / 7) }, (_, i) => 7 * i),
    );
    const damaged = kept.filter((p) => !numberedIntact(p)).map(sequenceOf);
    assert.deepEqual(damaged, [], 'kept packets whose bytes changed after they were handed out');
  },
);

/** Large packets (each slab full of them makes the next one V8's), small ones (several slabs' worth), large again. */
const JUMBO_ROUNDS = [
  { size: 8972, count: 600 },
  { size: 1200, count: 3000 },
  { size: 8972, count: 600 },
];

/**
 * Whether a Buffer's memory is V8's own: such an ArrayBuffer can be
 * transferred (it is then detached here), memory a native module lent V8 is
 * copied instead. Detaches every view of that memory.
 */
function inV8Memory(p: Buffer): boolean {
  const memory = p.buffer as ArrayBuffer;
  structuredClone(memory, { transfer: [memory] });
  return memory.byteLength === 0;
}

for (const readerThread of [false, true]) {
  privilegedTest(
    `readable delivers 9000-byte packets (jumbo MTU), then 1200-byte ones, then 9000-byte ones again, in order and intact${readerThread ? ' (reader thread)' : ''}`,
    async () => {
      const { dev, net } = await openUp('jumbo', { readerThread });
      await using _ = dev;
      ip('link', 'set', 'dev', dev.name, 'mtu', '9000', 'txqueuelen', '10000');
      const seen: number[] = [];
      const damaged: number[] = [];
      dev.readable.on('data', (p: Buffer) => {
        const s = sequenceOf(p);
        if (s < 0) return;
        seen.push(s);
        if (!numberedIntact(p)) damaged.push(s);
      });
      // Slabs switch to V8's memory after large packets and back to pooled
      // memory after small ones (the readBatches test below checks which);
      // with the thread, parts also go as the thread read them. Collections
      // between the rounds.
      let sent = 0;
      for (const { size, count } of JUMBO_ROUNDS) {
        dev.readable.pause();
        await sendNumbered(net.host(2), count, sent, size);
        sent += count;
        dev.readable.resume();
        await until(() => seen.length === sent, `${sent} packets`);
        gc();
      }
      assert.deepEqual(seen, upTo(sent));
      assert.deepEqual(damaged, []);
    },
  );
}

privilegedTest(
  "readBatches gets 9000-byte packets (jumbo MTU) in slabs of V8's own memory, then 1200-byte ones in pooled slabs again, all in order and intact",
  async () => {
    const { dev, net } = await openUp('jumbob');
    await using _ = dev;
    ip('link', 'set', 'dev', dev.name, 'mtu', '9000', 'txqueuelen', '10000');
    const seen: number[] = [];
    const damaged: number[] = [];
    let lastSlab: Buffer | undefined;
    // Not reusing the slab: each fills, and the next is chosen by what the
    // last one held, as for readable.
    const onBatch = (slab: Buffer, d: Uint32Array, count: number): void => {
      for (let i = 0; i < count; i++) {
        const p = slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]);
        const s = sequenceOf(p);
        if (s < 0) continue;
        seen.push(s);
        if (!numberedIntact(p)) damaged.push(s);
      }
      lastSlab = slab;
    };
    const lastOfRound: Buffer[] = [];
    let sent = 0;
    for (const { size, count } of JUMBO_ROUNDS) {
      dev.pauseBatches();
      await sendNumbered(net.host(2), count, sent, size);
      sent += count;
      dev.readBatches(onBatch);
      await until(() => seen.length === sent, `${sent} packets`);
      lastOfRound.push(lastSlab!);
    }
    assert.deepEqual(seen, upTo(sent));
    assert.deepEqual(damaged, []);
    assert.deepEqual(lastOfRound.map(inV8Memory), [true, false, true], 'where the last batch of each round was');
  },
);

privilegedTest('readerThread must be a boolean or an object', async () => {
  await assert.rejects(TunDevice.open({ name: uniqueName('rtarg'), readerThread: 1 as unknown as boolean }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
  });
});

/** The reader threads of this process: their /proc/self/task entries. */
function readerTasks(): string[] {
  return readdirSync('/proc/self/task').filter(
    (tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'tuntap-reader',
  );
}

/** How often a thread has gone to sleep and been woken: voluntary_ctxt_switches in its status. */
function sleeps(tid: string): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'));
  assert.ok(m !== null, `no voluntary_ctxt_switches for task ${tid}`);
  return Number(m[1]);
}

for (const via of ['readable', 'readBatches'] as const) {
  privilegedTest(
    `readerThread, ${via}: the thread reads only while the queue is busy (the loop reads a trickle), and the packets keep their order across the hand-overs`,
    async () => {
      const { dev, net } = await openUp('rtswitch', { readerThread: true, maxBatch: 16 });
      await using _ = dev;
      ip('link', 'set', 'dev', dev.name, 'txqueuelen', '10000');
      const tasks = readerTasks();
      assert.equal(tasks.length, 1, 'one reader thread');
      const [tid] = tasks;
      const seen: number[] = [];
      const take = (p: Uint8Array): void => {
        const s = sequenceOf(p);
        if (s >= 0) seen.push(s);
      };
      if (via === 'readable') dev.readable.on('data', take);
      else
        dev.readBatches((slab, d, count) => {
          for (let i = 0; i < count; i++) take(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
        });
      let next = 0;
      // One packet at a time, each read before the next is sent (not a pace,
      // which a loaded machine breaks): the kernel's ring is empty again before the next.
      const trickle = async (count: number): Promise<number> => {
        const before = sleeps(tid);
        for (let i = 0; i < count; i++) {
          await sendNumbered(net.host(2), 1, next++);
          await until(() => seen.length === next, `packet ${next - 1}`, undefined, 1);
        }
        return sleeps(tid) - before;
      };
      // The thread starts parked: the loop reads a trickle, the thread sleeps through it.
      const parked = await trickle(40);
      assert.ok(parked <= 3, `the parked thread woke ${parked} times for 40 packets`);
      // 3000 at once (sent from this thread, so all queued before the loop reads): a
      // wake-up finds a full batch waiting and hands the reading to the thread.
      await sendNumbered(net.host(2), 3000, next);
      next += 3000;
      await until(() => seen.length === next, 'the burst');
      // The thread reads the next packets, waking for each, until it has seen
      // 16 light batches in a row (ReaderThread::kLightStreak) and hands back.
      const reading = await trickle(40);
      assert.ok(reading >= 12, `the thread woke only ${reading} times for 40 packets after a burst: it did not read them`);
      const handedBack = await trickle(40);
      assert.ok(handedBack <= 3, `the thread woke ${handedBack} times for 40 packets: it did not hand the reading back`);
      assert.deepEqual(seen, upTo(next));
    },
  );
}

const mixSeed = Number(process.env.TUNTAP_MIX_SEED ?? 20261130);

for (const via of ['readable', 'readBatches'] as const) {
  privilegedTest(
    `readerThread, ${via}: bursts, trickles and pauses in a random mix (seed ${mixSeed}) hand the reading back and forth without losing, repeating or reordering a packet`,
    async () => {
      const random = new SeededRandom(mixSeed);
      const { dev, net } = await openUp('rtmix', { readerThread: true, maxBatch: 16, readableHighWaterMark: 8 });
      await using _ = dev;
      // Room for every packet in the kernel's ring while the reader is paused.
      ip('link', 'set', 'dev', dev.name, 'txqueuelen', '20000');
      const [tid] = readerTasks();
      const seen: number[] = [];
      const take = (p: Uint8Array): void => {
        const s = sequenceOf(p);
        if (s >= 0) seen.push(s);
      };
      const pause = (): void => {
        if (via === 'readable') dev.readable.pause();
        else dev.pauseBatches();
      };
      const resume = (): void => {
        if (via === 'readable') dev.readable.resume();
        else dev.readBatches(handler);
      };
      const handler = (slab: Buffer, d: Uint32Array, count: number): void => {
        for (let i = 0; i < count; i++) take(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
      };
      if (via === 'readable') dev.readable.on('data', take);
      else dev.readBatches(handler);
      const wokeBefore = sleeps(tid);
      let next = 0;
      for (let round = 0; round < 12; round++) {
        // A burst (more than maxBatch at once engages the thread), sometimes
        // sent while nobody reads, so the ring is full when reading resumes.
        const paused = random.chance(0.4);
        if (paused) pause();
        const burst = 20 + random.int(600);
        await sendNumbered(net.host(2), burst, next);
        next += burst;
        if (paused) {
          await new Promise((resolve) => setTimeout(resolve, random.int(5)));
          resume();
        }
        // A trickle: light batches, 16 of which in a row hand the reading back.
        const trickle = random.int(30);
        for (let i = 0; i < trickle; i++) {
          await sendNumbered(net.host(2), 1, next++);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        // A pause in the middle of the thread's reading, now and then.
        if (random.chance(0.3)) {
          pause();
          await new Promise((resolve) => setTimeout(resolve, random.int(3)));
          resume();
        }
      }
      await until(() => seen.length >= next, `${next} packets (seed ${mixSeed})`);
      assert.deepEqual(seen, upTo(next), `seed ${mixSeed}`);
      // The bursts were the thread's to read: it woke for them.
      assert.ok(sleeps(tid) - wokeBefore >= 12, `seed ${mixSeed}: the reader thread hardly woke; it read none of the bursts`);
    },
    { timeout: 60_000 },
  );
}

privilegedTest(
  'readerThread: close() while the thread is reading a burst, 20 times: each close resolves, the thread ends, and no fd is left open',
  async () => {
    const random = new SeededRandom(mixSeed + 1);
    const fdsBefore = openFdCount();
    const tasksBefore = new Set(readerTasks());
    const closedAfter: number[] = [];
    const threadWoke: number[] = [];
    for (let k = 0; k < 20; k++) {
      const { dev, net } = await openUp('rtclose', { readerThread: true, maxBatch: 16 });
      ip('link', 'set', 'dev', dev.name, 'txqueuelen', '6000');
      const [tid] = readerTasks().filter((t) => !tasksBefore.has(t));
      const parked = sleeps(tid);
      // Closed from outside the handlers (the close inside them is in
      // faults-handlers), between two batches, after a random number of packets.
      const closeAt = 17 + random.int(3000);
      let got = 0;
      let reached: () => void = () => undefined;
      const atCloseAt = new Promise<void>((resolve) => (reached = resolve));
      dev.readable.on('data', () => {
        if (++got === closeAt) reached();
      });
      // All in the kernel's ring before the loop reads: its first wake-up
      // finds a full batch and more, and hands the reading to the thread.
      await sendNumbered(net.host(2), 5000);
      await Promise.race([atCloseAt, rejectAfter(30_000, () => `only ${got} packets came`)]);
      closedAfter.push(got);
      threadWoke.push(sleeps(tid) - parked);
      await Promise.race([dev.close(), rejectAfter(30_000, () => `close() ${k} (after ${got} packets) never resolved`)]);
    }
    // The closes came in the middle of the burst, while the thread read it
    // (it had been woken since it parked: it was engaged).
    assert.ok(
      closedAfter.every((n) => n < 5000) && threadWoke.every((n) => n > 0),
      `packets read before each close: ${closedAfter.join(' ')}; the thread's wake-ups: ${threadWoke.join(' ')}`,
    );
    assert.deepEqual(
      readerTasks().filter((t) => !tasksBefore.has(t)),
      [],
      'every reader thread ended',
    );
    assert.equal(openFdCount(), fdsBefore, 'every fd was closed');
  },
  { timeout: 60_000 },
);

privilegedTest(
  'readerThread: the thread keeps only its own three fds, so a file the process closes is really closed',
  async () => {
    // A TCP connection that exists before the thread starts (and so in the
    // table the thread's own starts as a copy of).
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = connect(port, '127.0.0.1');
    const [accepted] = (await once(server, 'connection')) as [Socket];
    const before = new Set(readerTasks());
    const dev = await TunDevice.open({ name: uniqueName('rtfd'), readerThread: true });
    try {
      // By the time open() resolves the thread has its own table.
      const tid = readerTasks().find((t) => !before.has(t))!;
      assert.ok(tid !== undefined, 'a reader thread runs, named tuntap-reader');
      assert.equal(readdirSync(`/proc/self/task/${tid}/fd`).length, 3, 'the TUN fd and its two eventfds');
      // The peer sees the close at once: no copy of the socket is left open.
      const ended = once(accepted, 'end');
      client.end();
      await Promise.race([ended, rejectAfter(30_000, () => 'the close never reached the peer')]);
    } finally {
      accepted.destroy();
      client.destroy();
      server.close();
      await dev.close();
    }
    assert.deepEqual(
      readerTasks().filter((t) => !before.has(t)),
      [],
      'the thread is gone after close()',
    );
  },
);

privilegedTest('readerThread: { cpu } pins the thread, and a CPU that is not ours is refused with EINVAL', async () => {
  const before = new Set(readerTasks());
  const dev = await TunDevice.open({ name: uniqueName('rtcpu'), readerThread: { cpu: 0 } });
  try {
    // Named before open() resolves (pthread_setname_np from the opening thread).
    const tid = readerTasks().find((t) => !before.has(t));
    assert.ok(tid !== undefined, 'a reader thread runs, named tuntap-reader');
    const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    assert.equal(/^Cpus_allowed_list:\s*(\S+)$/mu.exec(status)?.[1], '0');
  } finally {
    await dev.close();
  }
  const fdsBefore = openFdCount();
  const name = uniqueName('rtbad');
  await assert.rejects(TunDevice.open({ name, readerThread: { cpu: availableParallelism() + 64 } }), {
    name: 'TunError',
    code: 'EINVAL',
    syscall: 'sched_setaffinity',
    message: /options\.readerThread\.cpu names a CPU this process may not run on/u,
  });
  assert.equal(openFdCount(), fdsBefore, 'nothing is left open');
  assert.equal(linkExists(name), false, 'no device is left behind');
});

privilegedTest('readerThread: a bad value is refused before anything opens', async () => {
  await assert.rejects(TunDevice.open({ readerThread: { cpu: -1 } }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(TunDevice.open({ readerThread: { cpu: 1.5 } }), { code: 'ERR_INVALID_ARG_TYPE' });
});
