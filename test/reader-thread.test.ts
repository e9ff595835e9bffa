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
import { until } from './kernel-helpers';
import { ip, linkExists, openFdCount, privilegedTest, rejectAfter, uniqueName } from './helpers';
import { openUp, sendNumbered, sequenceOf } from './numbered';

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
    await until(() => seen.length > 0, 'the first packet');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // readable's buffer, the thread's 12 batches in flight (kInFlight in
    // src/reader_thread.h), the kernel's ring (plus
    // the odd packet the kernel keeps beside it). A reader thread that did not
    // stop keeps up with this burst (it reads over a million packets a second)
    // and would pass on nearly all 2000.
    const bound = highWaterMark + 12 * maxBatch + ring + 8;
    assert.ok(seen.length <= bound, `${seen.length} packets came through, more than ${bound}`);
    assert.ok(seen.length >= ring - 8, `only ${seen.length} packets came through`);
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
      // One packet every 2 ms: the kernel's ring is empty again before the next.
      const trickle = async (count: number): Promise<number> => {
        const before = sleeps(tid);
        for (let i = 0; i < count; i++) {
          await sendNumbered(net.host(2), 1, next++);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await until(() => seen.length === next, `packet ${next - 1}`);
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
      await Promise.race([ended, rejectAfter(2000, () => 'the close never reached the peer')]);
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
