// Backpressure on the batch API: a handler that returns false pauses the
// batches, resumeBatches() brings the same handler back, and whenWritable()
// is what a writer awaits when writePackets() consumed fewer than asked.
import assert from 'node:assert/strict';
import { TunDevice } from '../lib';
import { ip, linkStats, privilegedTest, uniqueName } from './helpers';
import { until } from './kernel-helpers';
import { openUp, sendNumbered, sequenceOf } from './numbered';

const RING = 100;
const BURST = 300;

privilegedTest(
  'a batch handler that returns false gets nothing until resumeBatches(), then every packet the kernel queued',
  async () => {
    const { dev, net } = await openUp('bbp');
    await using _ = dev;
    ip('link', 'set', 'dev', dev.name, 'txqueuelen', String(RING));
    const seen: number[] = [];
    let calls = 0;
    let paused = false;
    dev.readBatches((slab, d, count) => {
      calls++;
      let numbered = false;
      for (let i = 0; i < count; i++) {
        const seq = sequenceOf(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
        if (seq >= 0) {
          seen.push(seq);
          numbered = true;
        }
      }
      // Pause on the first batch that holds the first numbered packet.
      if (numbered && !paused) {
        paused = true;
        return false;
      }
      return undefined;
    });
    await sendNumbered(net.host(2), 1);
    await until(() => paused, 'the first batch');
    const callsWhenPaused = calls;
    const droppedBefore = linkStats(dev.name).tx.dropped;
    await sendNumbered(net.host(2), BURST, 1);
    const dropped = linkStats(dev.name).tx.dropped - droppedBefore;
    // The ring holds at most RING packets (the link's own IPv6 chatter may take
    // a few places): the kernel dropped the rest of the burst.
    assert.ok(dropped >= BURST - RING, `dropped ${dropped}`);
    assert.equal(calls, callsWhenPaused, 'no batch while paused');
    dev.resumeBatches();
    // sendNumbered() ends with one more (empty) datagram, which the full ring dropped too.
    const queued = BURST + 1 - dropped;
    await until(() => seen.length >= 1 + queued, `${queued} queued packets`);
    // The first ones the ring took, in order, and nothing else.
    assert.deepEqual(
      seen,
      Array.from({ length: 1 + queued }, (_, i) => i),
    );
  },
);

privilegedTest('resumeBatches() does nothing before readBatches() and throws on a closed device', async () => {
  const dev = await TunDevice.open({ name: uniqueName('bbr') });
  assert.equal(dev.resumeBatches(), dev);
  await dev.close();
  assert.throws(() => dev.resumeBatches(), { code: 'ERR_DEVICE_CLOSED' });
});

/** Lets the event loop poll twice, so a ready fd would have been reported. */
async function twoLoopTurns(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
}

// The kernel's EAGAIN on a TUN write needs a full send buffer, and TUN's write
// path frees each packet before write() returns: what can be seen is the
// other half of writability, a down link (EIO on write, not writable on poll).
privilegedTest('whenWritable() waits for the link to go up, resolves while it takes writes, and rejects on close', async () => {
  const dev = await TunDevice.open({ name: uniqueName('bbw') });
  let settled = false;
  const whenUp = dev.whenWritable().then(() => (settled = true));
  await twoLoopTurns();
  assert.equal(settled, false, 'a down link is not writable');
  ip('link', 'set', 'dev', dev.name, 'up');
  await whenUp;
  await dev.whenWritable();
  ip('link', 'set', 'dev', dev.name, 'down');
  const pending = dev.whenWritable();
  await twoLoopTurns();
  await Promise.all([assert.rejects(pending, { code: 'ERR_DEVICE_CLOSED' }), dev.close()]);
  await assert.rejects(dev.whenWritable(), { code: 'ERR_DEVICE_CLOSED' });
});
