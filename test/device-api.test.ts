// What a device tells its user: counters, drops with a reason and a hint,
// warnings instead of silence, and AbortSignal where Node would take one.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { TunDevice, type TunError } from '../lib';
import { bringUp, linkExists, linkStats, privilegedTest, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';
import { numberedPacket, openUp, sendNumbered, sequenceOf } from './numbered';

/** Writes `packets` through `writable` and waits until every callback ran. */
async function writeAll(dev: TunDevice, packets: Buffer[]): Promise<void> {
  await Promise.all(
    packets.map((p) => new Promise<void>((resolve, reject) => dev.writable.write(p, (e) => (e ? reject(e) : resolve())))),
  );
}

privilegedTest('stats count what was read, written and dropped, by reason, as the kernel saw it', async () => {
  const { dev, net } = await openUp('sta');
  await using _ = dev;
  let numbered = 0;
  dev.readable.on('data', (p: Buffer) => {
    if (sequenceOf(p) >= 0) numbered++;
  });
  dev.on('drop', () => {});
  await sendNumbered(net.host(2), 10);
  await until(() => numbered === 10, '10 packets read');
  const before = linkStats(dev.name).rx.packets;
  const garbage = Buffer.alloc(20); // IP version 0
  await writeAll(dev, [numberedPacket(net, 1), garbage, numberedPacket(net, 2), garbage, numberedPacket(net, 3)]);
  const s = dev.stats;
  assert.ok(s.packetsRead >= 10, `packetsRead ${s.packetsRead}`);
  assert.ok(s.bytesRead >= 10 * 32);
  assert.equal(s.packetsWritten, 3);
  assert.equal(s.bytesWritten, 3 * 32);
  assert.equal(s.packetsDropped, 2);
  assert.deepEqual(s.dropped, { EINVAL: 2 });
  assert.equal(linkStats(dev.name).rx.packets - before, 3, 'the kernel took exactly the written ones');
});

privilegedTest('a drop nobody listens for warns once, with what to do, and is still counted', async () => {
  const { dev } = await openUp('dwarn');
  await using _ = dev;
  const warnings: Array<Error & { code?: string }> = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === 'TUNTAP_PACKET_DROPPED') warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    await writeAll(dev, [Buffer.alloc(20), Buffer.alloc(20), Buffer.alloc(20)]);
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /IP version 0/);
  assert.match(warnings[0].message, /dev\.stats/);
  assert.equal(dev.stats.dropped.EINVAL, 3);
});

privilegedTest(
  'a packet with a packet-information header written to a device without packetInfo is dropped with a hint naming the option',
  async () => {
    const { dev, net } = await openUp('dpi');
    await using _ = dev;
    const drop = once(dev, 'drop') as Promise<[Buffer, TunError]>;
    dev.writable.write(Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), numberedPacket(net, 1)]));
    const [, error] = await drop;
    assert.equal(error.code, 'EINVAL');
    assert.match(error.hint ?? '', /packetInfo/);
  },
);

privilegedTest('a packet written while the link is down is dropped with EIO and a hint to bring it up', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('ddown') });
  await using _ = dev;
  const drop = once(dev, 'drop') as Promise<[Buffer, TunError]>;
  dev.writable.write(numberedPacket(net, 1));
  const [, error] = await drop;
  assert.equal(error.code, 'EIO');
  assert.match(error.hint ?? '', /down/);
  assert.equal(dev.stats.dropped.EIO, 1);
});

privilegedTest('open() with an already aborted signal rejects with AbortError and opens nothing', async () => {
  const name = uniqueName('abt');
  await assert.rejects(TunDevice.open({ name, signal: AbortSignal.abort() }), { name: 'AbortError', code: 'ABORT_ERR' });
  assert.equal(linkExists(name), false);
});

privilegedTest('open() aborted while the kernel works rejects with AbortError and leaves no device behind', async () => {
  const name = uniqueName('abt2');
  const controller = new AbortController();
  const opening = TunDevice.open({ name, signal: controller.signal });
  controller.abort(new Error('changed my mind'));
  await assert.rejects(opening, (e: Error) => e.name === 'AbortError' && (e.cause as Error).message === 'changed my mind');
  await until(() => !linkExists(name), 'the device opened in flight to be closed again');
});

privilegedTest('open() rejects a signal that is not an AbortSignal before any syscall', async () => {
  const name = uniqueName('abt3');
  await assert.rejects(TunDevice.open({ name, signal: 'soon' as unknown as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(linkExists(name), false);
});

privilegedTest('readBatches stops reading when its signal aborts', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('rbab') });
  await using _ = dev;
  bringUp(dev.name, net);
  const controller = new AbortController();
  let numbered = 0;
  dev.readBatches(
    (slab, d, count) => {
      for (let i = 0; i < count; i++) if (sequenceOf(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1])) >= 0) numbered++;
    },
    { signal: controller.signal },
  );
  await sendNumbered(net.host(2), 5);
  await until(() => numbered === 5, '5 packets before the abort');
  controller.abort();
  await sendNumbered(net.host(2), 5);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(numbered, 5);
  dev.readBatches(() => {}); // a new call resumes; the kernel ring still holds the 5
});

privilegedTest('destroy() returns the device, like a stream', async () => {
  const dev = await TunDevice.open({ name: uniqueName('dret') });
  assert.equal(dev.destroy(), dev);
  await once(dev, 'close');
});

test('internal checks are not part of the public API: validateName is gone from the exports', async () => {
  const lib = (await import('../lib')) as Record<string, unknown>;
  assert.equal('validateName' in lib, false);
  assert.equal(typeof lib.TunDevice, 'function');
});
