// A consumer that stops reading stops the reads from the kernel.
import assert from 'node:assert/strict';
import { TunDevice } from '../lib';
import { boundUdpSocket, bringUp, linkStats, privilegedTest, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';

privilegedTest('a paused consumer bounds what the process buffers; the kernel ring drops the rest', async () => {
  const net = uniqueSubnet();
  const highWaterMark = 32;
  const maxBatch = 16;
  await using dev = await TunDevice.open({ name: uniqueName('bp'), readableHighWaterMark: highWaterMark, maxBatch });
  bringUp(dev.name, net);
  const { socket } = await boundUdpSocket(net.host(1));

  let consumed = 0;
  dev.readable.on('data', () => {
    consumed++;
    if (consumed === 10) dev.readable.pause();
  });
  const total = 3000; // far more than the ring (txqueuelen 500) and the stream hold
  for (let sent = 0; sent < total;) {
    for (let i = 0; i < 100; i++, sent++) socket.send(Buffer.alloc(64), 9, net.host(2));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the sends drain into the device
  const buffered = dev.readable.readableLength;
  assert.equal(dev.readable.isPaused(), true);
  assert.ok(buffered <= highWaterMark + maxBatch, `${buffered} packets buffered`);
  const stats = linkStats(dev.name);
  assert.ok(stats.tx.dropped > 0, 'the kernel dropped what nobody read');

  // Resuming drains what was held in the ring and the stream.
  const before = consumed;
  dev.readable.resume();
  await until(() => consumed - before >= buffered, `the ${buffered} buffered packets to be read after resume()`);
  socket.close();
});

privilegedTest('readable takes no more packets from the kernel than its highWaterMark, whatever maxBatch', async () => {
  const net = uniqueSubnet();
  const highWaterMark = 8;
  const total = 100; // queued in the ring (txqueuelen 500) before anything reads
  await using dev = await TunDevice.open({ name: uniqueName('hwm'), readableHighWaterMark: highWaterMark, maxBatch: 256 });
  bringUp(dev.name, net);
  const { socket } = await boundUdpSocket(net.host(1));
  // A send's callback runs after its sendmsg(2) returned, by when the packet is in the device's ring.
  await Promise.all(
    Array.from(
      { length: total },
      () =>
        new Promise<void>((resolve, reject) => socket.send(Buffer.alloc(64), 9, net.host(2), (e) => (e ? reject(e) : resolve()))),
    ),
  );
  socket.close();
  const r = dev.readable;
  let udp = 0;
  let mostBuffered = 0;
  while (udp < total) {
    // 'readable' comes once a read from the kernel has filled the buffer (or the ring ran dry).
    await new Promise((resolve) => r.once('readable', resolve));
    mostBuffered = Math.max(mostBuffered, r.readableLength);
    for (let p: Buffer | null; (p = r.read() as Buffer | null) !== null;) if (p[0] >> 4 === 4 && p[9] === 17) udp++;
  }
  assert.ok(mostBuffered <= highWaterMark, `${mostBuffered} packets buffered at once`);
  assert.equal(udp, total, 'every queued packet was read in the end');
});
