// TunDevice.readBatches() and writePackets(): the batch API, against real packets.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { TunDevice } from '../lib';
import { privilegedTest, uniqueName } from './helpers';
import { until } from './kernel-helpers';
import { NUMBERED_PORT as PORT, numberedPacket, openUp, sendNumbered, sequenceOf } from './numbered';

/** `promise`, or a failure after timeoutMs. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

privilegedTest('readBatches receives exactly the packets sent, in order, and views stay valid', async () => {
  const { dev, net } = await openUp('bat');
  await using _ = dev;
  const kept: Buffer[] = [];
  let batches = 0;
  dev.readBatches((slab, d, count) => {
    batches++;
    for (let i = 0; i < count; i++) {
      const p = slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]);
      if (sequenceOf(p) >= 0) kept.push(p);
    }
  });
  await sendNumbered(net.host(2), 300);
  await until(() => kept.length >= 300, '300 packets');
  // Read after every batch has come in: the default mode never reuses a slab region.
  assert.deepEqual(
    kept.map(sequenceOf),
    Array.from({ length: 300 }, (_, i) => i),
  );
  assert.ok(batches >= 1 && batches <= 300);
});

privilegedTest('readBatches with reuseSlab reads every batch into the same memory', async () => {
  const { dev, net } = await openUp('reu');
  await using _ = dev;
  const seen: number[] = [];
  const slabs = new Set<ArrayBufferLike>();
  const firstOffsets: number[] = [];
  let wanted = 0;
  let wake: () => void = () => undefined;
  dev.readBatches(
    (slab, d, count) => {
      slabs.add(slab.buffer);
      firstOffsets.push(d[0]);
      for (let i = 0; i < count; i++) {
        const n = sequenceOf(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
        if (n >= 0) seen.push(n);
      }
      if (seen.length >= wanted) wake();
    },
    { reuseSlab: true },
  );
  // Three rounds, each waited for, so there are at least three batches.
  for (let round = 0; round < 3; round++) {
    wanted += 10;
    const got = new Promise<void>((resolve) => (wake = resolve));
    await sendNumbered(net.host(2), 10, round * 10);
    await within(got, `round ${round}`);
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 30 }, (_, i) => i),
  );
  assert.equal(slabs.size, 1);
  // Without reuse, the second batch would start where the first ended.
  assert.ok(firstOffsets.length >= 3);
  assert.ok(
    firstOffsets.every((offset) => offset === 0),
    `first offsets: ${firstOffsets.join(' ')}`,
  );
});

privilegedTest(
  'once readBatches reads, consuming readable throws ERR_READ_SIDE_TAKEN at the call and batches keep every packet',
  async () => {
    const { dev, net } = await openUp('own');
    await using _ = dev;
    let batched = 0;
    let streamed = 0;
    dev.readBatches((slab, d, count) => {
      for (let i = 0; i < count; i++) if (sequenceOf(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1])) >= 0) batched++;
    });
    assert.throws(() => dev.readable.on('data', () => streamed++), { code: 'ERR_READ_SIDE_TAKEN' });
    assert.throws(() => dev.readable.on('readable', () => streamed++), { code: 'ERR_READ_SIDE_TAKEN' });
    assert.throws(() => dev.readable.resume(), { code: 'ERR_READ_SIDE_TAKEN' });
    assert.equal(dev.readable.destroyed, false);
    await sendNumbered(net.host(2), 20);
    await until(() => batched >= 20, '20 packets through readBatches');
    assert.equal(batched, 20);
    assert.equal(streamed, 0);
  },
);

privilegedTest('readBatches throws ERR_READ_SIDE_TAKEN once readable is reading, and readable keeps every packet', async () => {
  const { dev, net } = await openUp('own2');
  await using _ = dev;
  const streamed: number[] = [];
  dev.readable.on('data', (p: Buffer) => {
    const n = sequenceOf(p);
    if (n >= 0) streamed.push(n);
  });
  assert.throws(() => dev.readBatches(() => assert.fail('the batch handler must not run')), { code: 'ERR_READ_SIDE_TAKEN' });
  await sendNumbered(net.host(2), 20);
  await until(() => streamed.length >= 20, '20 packets through readable');
  assert.deepEqual(
    streamed,
    Array.from({ length: 20 }, (_, i) => i),
  );
});

privilegedTest('readBatches rejects a handler that is not a function before reading', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('arg') });
  assert.throws(() => dev.readBatches('nope' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => dev.readBatches(() => undefined, { reuseSlab: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  // Nothing was claimed: readable still works.
  assert.equal(dev.readable.readableFlowing, null);
});

privilegedTest('writePackets delivers each [offset, length] packet of one buffer to a socket, in order', async () => {
  const { dev, net } = await openUp('wp');
  await using _ = dev;
  const socket = createSocket('udp4');
  socket.bind(PORT, net.host(1));
  await once(socket, 'listening');
  const got: number[] = [];
  socket.on('message', (m: Buffer) => got.push(m.readUInt32BE(0)));
  // Ten IPv4/UDP packets from net.host(2) to the socket, 48 bytes apart in one buffer.
  const buffer = Buffer.alloc(480);
  const descriptors = new Uint32Array(20);
  for (let i = 0; i < 10; i++) {
    numberedPacket(net, i).copy(buffer, 48 * i);
    descriptors[2 * i] = 48 * i;
    descriptors[2 * i + 1] = 32;
  }
  try {
    assert.equal(dev.writePackets(buffer, descriptors, 10), 10);
    await until(() => got.length >= 10, '10 datagrams');
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    socket.close();
  }
});

privilegedTest('writePackets rejects a count beyond the descriptors before writing', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('wpa') });
  assert.throws(() => dev.writePackets(Buffer.alloc(8), new Uint32Array(2), 2), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => dev.writePackets(Buffer.alloc(8), [0, 8] as never, 1), { code: 'ERR_INVALID_ARG_TYPE' });
});
