// Read slabs come from a pool (src/slab_pool.cc): a slab whose views have all
// been collected is handed out again. A view the user still holds must never
// see its bytes overwritten by a later read.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TunDevice } from '../lib';
import { bringUp, privilegedTest, uniqueName, uniqueSubnet } from './helpers';
import { gc } from './gc';
import { until } from './kernel-helpers';

const PORT = 40_100;
const PAYLOAD = 1372; // 1400-byte IPv4 packets: about 745 to a 1 MiB slab

/** Payload i: its sequence number, then every byte (i * 7) & 0xff. */
function payloadOf(i: number): Buffer {
  const p = Buffer.alloc(PAYLOAD, (i * 7) & 0xff);
  p.writeUInt32BE(i, 0);
  return p;
}

function sequenceOf(p: Buffer): number {
  return p.length === 28 + PAYLOAD && p[9] === 17 && p.readUInt16BE(22) === PORT ? p.readUInt32BE(28) : -1;
}

privilegedTest('a packet view kept across collections keeps its bytes while later reads reuse pooled slabs', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('pool') });
  bringUp(dev.name, net);
  const kept = new Map<number, Buffer>();
  let received = 0;
  dev.readable.on('data', (p: Buffer) => {
    const n = sequenceOf(p);
    if (n < 0) return;
    received++;
    if (n % 50 === 0) kept.set(n, p); // the rest become garbage at once
  });
  const socket = createSocket('udp4');
  try {
    // Rounds of 150 (below the device's 500-packet queue), each waited for;
    // between rounds the dropped views are collected and their slabs return
    // to the pool, so later rounds land in recycled memory.
    const rounds = 20;
    for (let round = 0; round < rounds; round++) {
      for (let i = round * 150; i < (round + 1) * 150; i++) socket.send(payloadOf(i), PORT, net.host(2));
      await until(() => received >= (round + 1) * 150, `round ${round}'s packets`);
      gc();
      await nextTurn(); // buffer finalizers run on a later turn of the loop
    }
    assert.equal(received, rounds * 150);
  } finally {
    socket.close();
  }
  assert.equal(kept.size, (20 * 150) / 50);
  for (const [n, p] of kept) {
    assert.equal(sequenceOf(p), n);
    assert.ok(p.subarray(28 + 4).equals(payloadOf(n).subarray(4)), `packet ${n} was overwritten`);
  }
});
