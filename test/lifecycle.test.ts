// The device's lifecycle against user code that acts while packets wait:
// memory detached under a queued write, destroy() during close()'s flush,
// and an AbortSignal that outlives the device.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { getEventListeners, once } from 'node:events';
import { TunDevice } from '../lib';
import { gc } from './gc';
import { linkExists, privilegedTest, rejectAfter, uniqueName } from './helpers';
import { until } from './kernel-helpers';
import { NUMBERED_PORT, numberedPacket, openUp, type Subnet } from './numbered';

/** A UDP socket on the device's address that records the sequence numbers written to it. */
async function numberedReceiver(net: Subnet): Promise<{ socket: Socket; seen: Set<number> }> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const seen = new Set<number>();
  socket.on('message', (m: Buffer) => seen.add(m.readUInt32BE(0)));
  socket.bind(NUMBERED_PORT, net.host(1));
  await once(socket, 'listening');
  return { socket, seen };
}

/** Numbered packets, each in memory of its own (so detaching one detaches nothing else). */
function ownPackets(net: Subnet, count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const packet = Buffer.from(new ArrayBuffer(32));
    numberedPacket(net, i).copy(packet);
    return packet;
  });
}

/** What postMessage(p.buffer, [p.buffer]) does to the memory. */
function detach(packet: Buffer): void {
  const memory = packet.buffer as ArrayBuffer;
  structuredClone(memory, { transfer: [memory] });
}

// Uncorked, the first write goes to the kernel at once and the rest wait in
// `writable` for its callback; corked, they all wait for uncork(). Two
// packets, uncorked: the one left waiting is written alone (_write).
for (const { label, corked, count, detached } of [
  { label: 'behind a write in flight', corked: false, count: 10, detached: 5 },
  { label: 'corked', corked: true, count: 10, detached: 5 },
  { label: 'alone behind a write in flight', corked: false, count: 2, detached: 1 },
]) {
  privilegedTest(
    `a queued packet whose memory is detached (${label}) fails alone: its callback and a 'drop' say so`,
    async () => {
      const { dev, net } = await openUp('dtch');
      const { socket, seen } = await numberedReceiver(net);
      const drops: string[] = [];
      dev.on('drop', (packet, error) => drops.push(`${error.code}:${packet.length}`));
      const results: Array<string | null> = [];
      const packets = ownPackets(net, count);
      if (corked) dev.writable.cork();
      packets.forEach((p, i) => dev.writable.write(p, (e) => (results[i] = (e as NodeJS.ErrnoException | null)?.code ?? null)));
      detach(packets[detached]);
      if (corked) dev.writable.uncork();
      await until(() => results.filter((r) => r !== undefined).length === count, 'every write called back');
      assert.deepEqual(
        results,
        packets.map((_, i) => (i === detached ? 'ERR_PACKET_DETACHED' : null)),
      );
      assert.deepEqual(drops, ['ERR_PACKET_DETACHED:0']);
      assert.equal(dev.stats.dropped.ERR_PACKET_DETACHED, 1);
      assert.equal(dev.writable.destroyed, false, 'the stream goes on');
      const others = packets.map((_, i) => i).filter((i) => i !== detached);
      await until(() => others.every((i) => seen.has(i)), 'the other packets to arrive');
      assert.equal(seen.has(detached), false);
      await Promise.race([dev.close(), rejectAfter(10_000, () => 'close() did not settle')]);
      socket.close();
    },
  );
}

privilegedTest("writePackets() goes on when a 'drop' handler detaches its buffer: the rest are drops", async () => {
  const { dev, net } = await openUp('dtwp');
  const count = 300; // more than one native call takes (256)
  const buffer = Buffer.from(new ArrayBuffer(32 * count));
  const descriptors = new Uint32Array(2 * count);
  for (let i = 0; i < count; i++) {
    numberedPacket(net, i).copy(buffer, 32 * i);
    descriptors.set([32 * i, 32], 2 * i);
  }
  buffer[0] = buffer[32] = 0x00; // IP version 0: the kernel refuses packets 0 and 1
  const drops = new Map<string, number>();
  dev.on('drop', (_packet, error) => {
    drops.set(error.code, (drops.get(error.code) ?? 0) + 1);
    if (buffer.byteLength > 0) detach(buffer);
  });
  assert.equal(dev.writePackets(buffer, descriptors, count), count, 'every packet written or dropped');
  assert.deepEqual(Object.fromEntries(drops), { EINVAL: 2, ERR_PACKET_DETACHED: count - 256 });
  assert.equal(dev.stats.packetsWritten, 254);
  await dev.close();
});

privilegedTest(
  'destroy(error) while close() flushes discards the queued packets, emits the error, and close() settles',
  async () => {
    const { dev, net } = await openUp('dstf');
    const { socket, seen } = await numberedReceiver(net);
    const events: string[] = [];
    const errors: Error[] = [];
    dev.on('error', (e) => errors.push(e));
    dev.on('drop', (_packet, error) => events.push(`drop:${error.code}`));
    dev.on('close', () => events.push('close'));
    const results: Array<string | null> = [];
    const count = 10;
    // The first goes to the kernel at once; the other nine wait in `writable` for its callback.
    ownPackets(net, count).forEach((p, i) =>
      dev.writable.write(p, (e) => (results[i] = (e as NodeJS.ErrnoException | null)?.code ?? null)),
    );
    const closing = dev.close();
    const fd = dev.fd;
    const stop = new Error('stop');
    dev.destroy(stop);
    assert.equal(dev.fd, -1);
    await Promise.race([closing, rejectAfter(10_000, () => 'close() did not settle')]);
    assert.deepEqual(errors, [stop]);
    assert.deepEqual(events, [...Array<string>(count - 1).fill('drop:ERR_STREAM_DESTROYED'), 'close']);
    assert.equal(dev.stats.dropped.ERR_STREAM_DESTROYED, count - 1);
    await until(() => results.filter((r) => r !== undefined).length === count, 'every write called back');
    assert.deepEqual(results, [null, ...Array<string>(count - 1).fill('ERR_STREAM_DESTROYED')]);
    assert.equal(linkExists(dev.name), false, 'the fd was released and the device went with it');
    assert.ok(fd >= 0);
    assert.equal(dev.stats.packetsWritten, 1, 'only the packet written before destroy()');
    await until(() => seen.has(0), 'the packet written before destroy() to arrive');
    socket.close();
  },
);

privilegedTest('readBatches() calls with one signal leave one abort listener, and none once paused or closed', async () => {
  const dev = await TunDevice.open({ name: uniqueName('sig') });
  const controller = new AbortController();
  for (let i = 0; i < 100; i++) dev.readBatches(() => {}, { signal: controller.signal });
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  dev.pauseBatches();
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  dev.readBatches(() => {}, { signal: controller.signal });
  await dev.close();
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

privilegedTest("a closed device is collected although readBatches()'s signal lives on", async () => {
  const controller = new AbortController();
  let device: WeakRef<TunDevice> | undefined;
  await (async () => {
    const dev = await TunDevice.open({ name: uniqueName('sgc') });
    dev.readBatches(() => {}, { signal: controller.signal });
    device = new WeakRef(dev);
    await dev.close();
  })();
  await until(
    () => {
      gc();
      return device?.deref() === undefined;
    },
    'the closed device to be collected',
    10_000,
  );
  assert.equal(controller.signal.aborted, false);
});
