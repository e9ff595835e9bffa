// Backpressure on the batch API: a handler that returns false pauses the
// batches, resumeBatches() brings the same handler back, and whenWritable()
// is what a writer awaits when writePackets() consumed fewer than asked.
import assert from 'node:assert/strict';
import { TunDevice } from '../lib';
import { ip, linkStats, privilegedTest, run, uniqueName } from './helpers';
import { until } from './kernel-helpers';
import { NUMBERED_PORT, openUp, sendNumbered, sequenceOf } from './numbered';

const RING = 100;
/** Sends argv[3] numbered datagrams (sequence 1 on) to argv[1]:argv[2], then exits. */
const SENDER = `
const s = require('node:dgram').createSocket('udp4');
const [dst, port, count] = process.argv.slice(1);
let left = Number(count);
for (let i = 1; i <= Number(count); i++) {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(i);
  s.send(p, Number(port), dst, () => { if (--left === 0) s.close(); });
}`;
const BURST = 300;

/** Lets the event loop poll twice, so a ready fd would have been reported. */
async function twoLoopTurns(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
}

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
    // From another process, so this one's event loop runs (and would read) during the burst.
    const sent = await run(process.execPath, ['-e', SENDER, net.host(2), String(NUMBERED_PORT), String(BURST)]);
    assert.equal(sent.code, 0, sent.stderr);
    await twoLoopTurns();
    const dropped = linkStats(dev.name).tx.dropped - droppedBefore;
    // The ring holds at most RING packets (the link's own IPv6 chatter may take
    // a few places): the kernel dropped the rest of the burst.
    assert.ok(dropped >= BURST - RING, `dropped ${dropped}`);
    assert.equal(calls, callsWhenPaused, 'no batch while paused');
    dev.resumeBatches();
    const queued = BURST - dropped;
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
