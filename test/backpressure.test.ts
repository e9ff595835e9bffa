// A consumer that stops reading stops the reads from the kernel.
import assert from 'node:assert/strict';
import { TunDevice } from '../lib';
import { boundUdpSocket, bringUp, linkStats, privilegedTest, uniqueName, uniqueSubnet } from './helpers';

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
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.close();
  assert.ok(consumed - before >= buffered, `resumed reading: ${consumed - before} more packets`);
});
