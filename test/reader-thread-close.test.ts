// close() and destroy() of a device whose reader thread is busy: every packet
// the kernel handed over (the link's tx packets, read while the persistent
// device outlives its fd) reaches readable or the batch handler before the
// end, or is counted in dev.stats.dropped.closed; none vanishes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { TunDevice } from '../lib';
import { bringUp, linkStats, privilegedTest, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';

// A UDP flood into the device from a worker, until told to stop (bounded anyway).
const FLOOD = `
const { workerData, parentPort } = require('node:worker_threads');
const socket = require('node:dgram').createSocket('udp4');
const payload = Buffer.alloc(workerData.size);
const deadline = Date.now() + 60000;
let stopped = false;
parentPort.on('message', () => { stopped = true; socket.close(); parentPort.close(); });
const pump = () => {
  if (stopped || Date.now() > deadline) return;
  for (let i = 0; i < 64; i++) socket.send(payload, 9, workerData.dst);
  setImmediate(pump);
};
pump();
`;

/** A consumer slower than the flood, so that the thread's ring holds batches. */
function spin(packets: number): void {
  const end = performance.now() + packets * 0.02;
  while (performance.now() < end);
}

type Ending = 'close' | 'destroy in handler';

interface Round {
  delivered: number;
  discarded: number;
  packetsRead: number;
  tx: number;
}

async function floodAndEnd(how: Ending, batches: boolean, threshold: number): Promise<Round> {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('rtcl'), readerThread: true, persist: true });
  const name = dev.name;
  bringUp(name, net);
  const flood = new Worker(FLOOD, { eval: true, workerData: { dst: net.host(2), size: 200 } });
  try {
    let delivered = 0;
    const onPackets = (n: number): void => {
      delivered += n;
      spin(n);
      if (how === 'destroy in handler' && delivered >= threshold) dev.destroy();
    };
    const closed = once(dev, 'close');
    const ended = batches ? closed : once(dev.readable, 'end');
    if (batches) dev.readBatches((_slab, _d, count) => onPackets(count));
    else dev.readable.on('data', () => onPackets(1));
    await until(() => delivered >= threshold, `${threshold} packets`, 30_000);
    if (how === 'close') await dev.close();
    await Promise.all([closed, ended]);
    const { tx } = linkStats(name);
    const stats = dev.stats;
    return { delivered, discarded: stats.dropped.closed ?? 0, packetsRead: stats.packetsRead, tx: tx.packets };
  } finally {
    flood.postMessage('stop');
    await once(flood, 'exit');
    await TunDevice.delete(name);
  }
}

const ROUNDS = 12;

privilegedTest(
  `readerThread: close() in a flood delivers every packet the kernel handed over, through readable and readBatches (${ROUNDS} rounds)`,
  async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const batches = round % 2 === 1;
      const r = await floodAndEnd('close', batches, 2000 + 300 * round);
      const what = `round ${round} (${batches ? 'readBatches' : 'readable'}): ${JSON.stringify(r)}`;
      assert.equal(r.packetsRead, r.tx, `packetsRead is the kernel's tx count; ${what}`);
      assert.equal(r.discarded, 0, `close() discards nothing; ${what}`);
      assert.equal(r.delivered, r.tx, `every packet read was delivered; ${what}`);
    }
  },
  { timeout: 300_000 },
);

privilegedTest(
  'readerThread: destroy() from inside a handler in a flood counts what it discards in dev.stats.dropped.closed',
  async () => {
    let discarded = 0;
    for (let round = 0; round < 6; round++) {
      const batches = round % 2 === 1;
      const r = await floodAndEnd('destroy in handler', batches, 2000 + 300 * round);
      const what = `round ${round} (${batches ? 'readBatches' : 'readable'}): ${JSON.stringify(r)}`;
      assert.equal(r.packetsRead, r.tx, `packetsRead is the kernel's tx count; ${what}`);
      assert.equal(r.delivered + r.discarded, r.tx, `delivered + dropped.closed is the kernel's tx count; ${what}`);
      discarded += r.discarded;
    }
    // The consumer is slow: the thread's ring held batches when a handler destroyed the device.
    assert.ok(discarded > 0, 'no round had packets in the ring to discard');
  },
  { timeout: 200_000 },
);
