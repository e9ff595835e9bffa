// TunDevice.readBatches() and writePackets(): the batch API, against real packets.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { TunDevice, internetChecksum } from '../lib';
import { bringUp, privilegedTest, uniqueName, uniqueSubnet } from './helpers';

const PORT = 40_000;

/** `promise`, or a failure after timeoutMs. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
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

/** Waits (bounded) until `done()` holds; fails after timeoutMs. */
async function until(done: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A device with an address, up; datagrams to net.host(2) are routed into it. */
async function openUp(prefix: string): Promise<{ dev: TunDevice; net: ReturnType<typeof uniqueSubnet> }> {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName(prefix) });
  bringUp(dev.name, net);
  return { dev, net };
}

/** Sends `count` UDP datagrams whose payload is their 4-byte sequence number. */
async function sendNumbered(dst: string, count: number, from = 0): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (let i = from; i < from + count; i++) {
      const payload = Buffer.alloc(4);
      payload.writeUInt32BE(i);
      socket.send(payload, PORT, dst);
    }
    // A last empty send whose callback runs after the others were handed to the kernel.
    await new Promise<void>((resolve, reject) => socket.send(Buffer.alloc(0), PORT + 1, dst, (e) => (e ? reject(e) : resolve())));
  } finally {
    socket.close();
  }
}

/** The sequence number of an IPv4 UDP packet to PORT, or -1 for anything else (IPv6 noise, say). */
function sequenceOf(p: Uint8Array): number {
  if (p.length !== 32 || p[0] >> 4 !== 4 || p[9] !== 17) return -1;
  const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  return b.readUInt16BE(22) === PORT ? b.readUInt32BE(28) : -1;
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
  assert.deepEqual(kept.map(sequenceOf), Array.from({ length: 300 }, (_, i) => i));
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
  assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i));
  assert.equal(slabs.size, 1);
  // Without reuse, the second batch would start where the first ended.
  assert.ok(firstOffsets.length >= 3);
  assert.ok(firstOffsets.every((offset) => offset === 0), `first offsets: ${firstOffsets.join(' ')}`);
});

privilegedTest('once readBatches reads, reading readable destroys it with ERR_READ_SIDE_TAKEN', async () => {
  const { dev, net } = await openUp('own');
  await using _ = dev;
  let batched = 0;
  let streamed = 0;
  dev.readBatches((slab, d, count) => {
    for (let i = 0; i < count; i++) if (sequenceOf(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1])) >= 0) batched++;
  });
  const [error] = (await Promise.all([once(dev.readable, 'error'), Promise.resolve(dev.readable.on('data', () => streamed++))])) as [
    [NodeJS.ErrnoException],
    unknown,
  ];
  assert.equal(error[0].code, 'ERR_READ_SIDE_TAKEN');
  await sendNumbered(net.host(2), 20);
  await until(() => batched >= 20, '20 packets through readBatches');
  assert.equal(batched, 20);
  assert.equal(streamed, 0);
});

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
  assert.deepEqual(streamed, Array.from({ length: 20 }, (_, i) => i));
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
    const p = buffer.subarray(48 * i, 48 * i + 32);
    p[0] = 0x45;
    p.writeUInt16BE(32, 2);
    p[8] = 64;
    p[9] = 17;
    Buffer.from(net.host(2).split('.').map(Number)).copy(p, 12);
    Buffer.from(net.host(1).split('.').map(Number)).copy(p, 16);
    p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
    p.writeUInt16BE(PORT, 20);
    p.writeUInt16BE(PORT, 22);
    p.writeUInt16BE(12, 24);
    p.writeUInt32BE(i, 28);
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
