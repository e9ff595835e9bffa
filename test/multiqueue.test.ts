// Multi-queue devices: flows spread over queues, detach / attach
// (TUNSETQUEUE) as the kernel's selftest tun.c exercises it, queues in workers.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { TunDevice, VIRTIO_NET_HDR_SIZE, parseVirtioNetHeader, type TunDeviceOptions } from '../lib';
import { bringUp, collect, ip, ipJson, linkExists, openFdCount, privilegedTest, uniqueName, uniqueSubnet } from './helpers';
import { checksumsValid } from './packet-builders';
import { LIB, countPorts, sendUdpFlows, udpPort, until } from './kernel-helpers';

async function openQueues(n: number, name = uniqueName('mq'), options: TunDeviceOptions = {}): Promise<TunDevice[]> {
  const queues: TunDevice[] = [];
  for (let i = 0; i < n; i++) queues.push(await TunDevice.open({ ...options, name, multiQueue: true }));
  return queues;
}

function up(name: string): { host: (n: number) => string } {
  const net = uniqueSubnet();
  bringUp(name, net);
  return net;
}

privilegedTest('four queues of one device each get some of 64 UDP flows, and no flow twice', async () => {
  const queues = await openQueues(4);
  try {
    const flags = await Promise.all(queues.map((q) => q.getFlags()));
    assert.ok(queues.every((q, i) => q.name === queues[0].name && q.multiQueue && flags[i].multiQueue));
    assert.equal(new Set(queues.map((q) => q.fd)).size, 4, 'one fd per queue');
    const net = up(queues[0].name);
    const counters = queues.map((q) => countPorts(q.readable, 30000, 64));
    await sendUdpFlows(net.host(2), 30000, 64);
    const total = (): number => counters.reduce((sum, c) => sum + c.ports.size, 0);
    await until(() => total() === 64, 'all 64 flows');
    for (const [i, c] of counters.entries()) assert.ok(c.ports.size > 0, `queue ${i} got no flow`);
    const union = new Set(counters.flatMap((c) => [...c.ports]));
    assert.equal(union.size, 64, 'each flow went to one queue only');
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
});

privilegedTest('a detached queue receives nothing, and once reattached it receives again', async () => {
  const [a, b] = await openQueues(2);
  try {
    const net = up(a.name);
    const onA = countPorts(a.readable, 31000, 64);
    const onB = countPorts(b.readable, 31000, 32);
    await a.detachQueue();
    assert.equal(a.queueAttached, false);
    await sendUdpFlows(net.host(2), 31000, 32);
    await until(() => onB.ports.size === 32, 'all 32 flows on the attached queue');
    assert.equal(onA.ports.size, 0);
    await a.attachQueue();
    assert.equal(a.queueAttached, true);
    const onBoth = [countPorts(a.readable, 31100, 64), countPorts(b.readable, 31100, 64)];
    await sendUdpFlows(net.host(2), 31100, 64);
    await until(() => onBoth[0].ports.size + onBoth[1].ports.size === 64, 'all 64 flows');
    assert.ok(onBoth[0].ports.size > 0, 'the reattached queue gets flows again');
    assert.equal(onA.ports.size, 0, 'nothing queued while detached shows up later');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

privilegedTest('readBatches on a detached queue waits for attachQueue instead of failing', async () => {
  const [a, b] = await openQueues(2);
  try {
    const net = up(a.name);
    const errors: Error[] = [];
    a.on('error', (e) => errors.push(e));
    const onB = countPorts(b.readable, 32000, 64);
    await a.detachQueue();
    const ports = new Set<number>();
    a.readBatches((slab, d, count) => {
      for (let i = 0; i < count; i++) {
        const port = udpPort(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
        if (port >= 32000 && port < 32064) ports.add(port);
      }
    });
    await sendUdpFlows(net.host(2), 32000, 16);
    await until(() => onB.ports.size === 16, 'all 16 flows on the attached queue');
    assert.equal(ports.size, 0);
    assert.deepEqual(errors, [], 'a detached queue is not a broken one');
    assert.equal(a.closed, false);
    await a.attachQueue();
    await sendUdpFlows(net.host(2), 32016, 48);
    await until(() => ports.size + onB.ports.size - 16 === 48, 'all 48 later flows');
    assert.ok(ports.size > 0, 'the reattached queue reads through its batch handler');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

privilegedTest('detaching twice is EINVAL, and so is attaching an attached queue', async () => {
  const [a, b] = await openQueues(2);
  try {
    await a.detachQueue();
    await assert.rejects(a.detachQueue(), { name: 'TunError', code: 'EINVAL', syscall: 'ioctl(TUNSETQUEUE)' });
    await assert.rejects(b.attachQueue(), { code: 'EINVAL' });
    assert.equal((await a.getFlags()).detached, true, 'TUNGETIFF still answers on a detached queue');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

privilegedTest('detach after the device was deleted is EINVAL, and close still works (delete_detach_close)', async () => {
  const [a, b] = await openQueues(2);
  ip('link', 'del', a.name);
  await assert.rejects(a.detachQueue(), { code: 'EINVAL' });
  await Promise.all([a.close(), b.close()]);
  assert.equal(a.fd, -1);
});

privilegedTest('a detached queue lets the device be deleted, then closes (detach_delete_close)', async () => {
  const [a, b] = await openQueues(2);
  await a.detachQueue();
  ip('link', 'del', a.name);
  assert.equal(linkExists(a.name), false);
  await Promise.all([a.close(), b.close()]);
});

privilegedTest('closing a detached queue leaves the device to the other queue (detach_close_delete)', async () => {
  const [a, b] = await openQueues(2);
  a.writable.write(Buffer.from([0x45])); // waits, corked, while detached
  await a.detachQueue();
  await a.close();
  assert.ok(linkExists(b.name));
  assert.equal((await b.getFlags()).multiQueue, true);
  ip('link', 'del', b.name);
  await b.close();
});

privilegedTest('a reattached queue survives the device being deleted and closes (reattach_delete_close)', async () => {
  const [a, b] = await openQueues(2);
  await a.detachQueue();
  await a.attachQueue();
  a.on('error', () => {});
  ip('link', 'del', a.name);
  await Promise.all([a.close(), b.close()]);
});

privilegedTest('re-attaching after the device is gone is EINVAL', async () => {
  const [a, b] = await openQueues(2);
  await a.detachQueue();
  ip('link', 'del', a.name);
  await assert.rejects(a.attachQueue(), { name: 'TunError', code: 'EINVAL' });
  await Promise.all([a.close(), b.close()]);
});

privilegedTest('detachQueue() on a single-queue device says ENOTSUP and why', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('mq1') });
  await assert.rejects(dev.detachQueue(), { code: 'ENOTSUP', message: /multiQueue: true/ });
});

// ---- the packet format is the device's ------------------------------------
// The kernel gives a queue joining a multi-queue device the device's
// IFF_VNET_HDR, IFF_NO_PI and offloads, whatever the queue asked for.

interface TunDetails {
  pi: boolean;
  vnet_hdr: boolean;
  numqueues: number;
}

function tunDetails(name: string): TunDetails {
  return ipJson<{ linkinfo: { info_data: TunDetails } }>('-d', 'link', 'show', 'dev', name)[0].linkinfo.info_data;
}

/** Sends one UDP datagram of `size` bytes to dst:port and resolves once it is sent. */
async function sendDatagram(dst: string, port: number, size: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) =>
      socket.send(Buffer.alloc(size, 7), port, dst, (e) => (e ? reject(e) : resolve())),
    );
  } finally {
    socket.close();
  }
}

privilegedTest('a queue without offload cannot join a device whose queues carry a virtio header', async () => {
  const [a] = await openQueues(1, uniqueName('mqv'), { offload: true });
  try {
    await assert.rejects(TunDevice.open({ name: a.name, multiQueue: true }), {
      name: 'TunError',
      code: 'EINVAL',
      syscall: 'ioctl(TUNSETIFF)',
      message: /carry a virtio_net_hdr.*with `offload` too/,
    });
    const details = tunDetails(a.name);
    assert.deepEqual([details.vnet_hdr, details.numqueues], [true, 1], 'the refused queue left nothing attached');
    // The queue that was there still reads packets behind their header.
    const net = up(a.name);
    const got = collect(a.readable, 1, (p) => udpPort(p.subarray(VIRTIO_NET_HDR_SIZE)) === 33000);
    await sendDatagram(net.host(2), 33000, 100);
    const [p] = await got;
    assert.equal(parseVirtioNetHeader(p)?.gsoType, 0);
  } finally {
    await a.close();
  }
});

privilegedTest('a queue with offload cannot join a device without one, nor turn offloads on under it', async () => {
  const [a] = await openQueues(1, uniqueName('mqn'));
  try {
    await assert.rejects(TunDevice.open({ name: a.name, multiQueue: true, offload: { tso: true } }), {
      name: 'TunError',
      code: 'EINVAL',
      message: /carry no virtio_net_hdr.*without `offload`/,
    });
    assert.equal(tunDetails(a.name).vnet_hdr, false);
    // With checksum offload on, the kernel would leave this datagram's checksum partial.
    const net = up(a.name);
    const got = collect(a.readable, 1, (p) => udpPort(p) === 33100);
    await sendDatagram(net.host(2), 33100, 1000);
    const [p] = await got;
    assert.ok(checksumsValid(p), 'the plain queue reads a complete UDP checksum');
  } finally {
    await a.close();
  }
});

privilegedTest('a queue with offload: true joining a device takes its offloads and changes none', async () => {
  const [a] = await openQueues(1, uniqueName('mqo'), { offload: { tso: true } });
  try {
    const b = await TunDevice.open({ name: a.name, multiQueue: true, offload: true });
    try {
      assert.deepEqual(b.offload, a.offload, "the device has the first queue's offloads");
      assert.deepEqual(a.offload, { checksum: true, tso: true, tsoEcn: false, uso: false, headerSize: 10 });
      await assert.rejects(TunDevice.open({ name: a.name, multiQueue: true, offload: { tso: true, uso: true } }), {
        code: 'EINVAL',
        message: /have the offloads \{ tso: true \}/,
      });
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
});

privilegedTest('a queue asking for packet information cannot join a device whose queues have none', async () => {
  const [a] = await openQueues(1, uniqueName('mqp'));
  try {
    await assert.rejects(TunDevice.open({ name: a.name, multiQueue: true, packetInfo: true }), {
      code: 'EINVAL',
      message: /carry no packet information.*packetInfo: false/,
    });
    const details = tunDetails(a.name);
    assert.deepEqual([details.pi, details.numqueues], [false, 1]);
  } finally {
    await a.close();
  }
});

// ---- TunDevice.delete() as the kernel selftest's RTM_DELLINK --------------

privilegedTest('delete() removes a multi-queue device whose queues are open (delete_detach_close)', async () => {
  const [a, b] = await openQueues(2);
  a.on('error', () => {});
  b.on('error', () => {});
  await TunDevice.delete(a.name);
  assert.equal(linkExists(a.name), false);
  await assert.rejects(a.detachQueue(), { code: 'EINVAL' });
  await Promise.all([a.close(), b.close()]);
  assert.equal(a.fd, -1);
});

privilegedTest('delete() removes a device with a detached queue, which then closes (detach_delete_close)', async () => {
  const [a, b] = await openQueues(2);
  b.on('error', () => {});
  await a.detachQueue();
  await TunDevice.delete(a.name, { multiQueue: true });
  assert.equal(linkExists(a.name), false);
  await Promise.all([a.close(), b.close()]);
});

privilegedTest('delete() removes a device with a reattached queue, which then closes (reattach_delete_close)', async () => {
  const [a, b] = await openQueues(2);
  a.on('error', () => {});
  b.on('error', () => {});
  await a.detachQueue();
  await a.attachQueue();
  await TunDevice.delete(a.name);
  assert.equal(linkExists(a.name), false);
  await assert.rejects(a.attachQueue(), { code: 'EINVAL' });
  await Promise.all([a.close(), b.close()]);
});

/**
 * A worker that opens one queue of `name`, reads `want` UDP flows, closes (or
 * not) and exits. `exited` is taken at once: a worker that closes and exits
 * emits 'exit' in the same turn as its last 'message', so a listener added
 * after awaiting that message would miss it.
 */
function queueWorker(name: string, want: number, close: boolean): { worker: Worker; exited: Promise<number> } {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { TunDevice } = require(${JSON.stringify(LIB)});
    (async () => {
      const dev = await TunDevice.open({ name: workerData.name, multiQueue: true });
      const ports = new Set();
      dev.readable.on('data', (p) => {
        if (p[0] >> 4 === 4 && p[9] === 17) ports.add(p.readUInt16BE(22));
        if (ports.size === workerData.want) {
          dev.readable.removeAllListeners('data');
          const done = () => parentPort.postMessage({ got: ports.size });
          if (workerData.close) dev.close().then(done); else done();
        }
      });
      parentPort.postMessage('ready');
    })();`;
  const worker = new Worker(code, { eval: true, workerData: { name, want, close } });
  const exited = once(worker, 'exit').then(([exitCode]) => exitCode as number);
  // A worker that fails makes `exited` settle too; this keeps an unawaited one from being unhandled.
  exited.catch(() => {});
  return { worker, exited };
}

privilegedTest('a worker opens its own queue of the device, reads its packets and exits cleanly', async () => {
  const fdsBefore = openFdCount();
  const [main] = await openQueues(1);
  try {
    const net = up(main.name);
    const { worker, exited } = queueWorker(main.name, 10, true);
    const [ready] = (await once(worker, 'message')) as [unknown];
    assert.equal(ready, 'ready');
    await main.detachQueue(); // the worker's queue is now the only one attached
    const result = once(worker, 'message');
    await sendUdpFlows(net.host(2), 32000, 10);
    assert.deepEqual((await result)[0], { got: 10 });
    assert.equal(await exited, 0);
  } finally {
    await main.close();
  }
  assert.equal(openFdCount(), fdsBefore, 'no fd left behind');
});

privilegedTest('a worker that exits with its queue still open releases the fd', async () => {
  const fdsBefore = openFdCount();
  const [main] = await openQueues(1);
  const net = up(main.name);
  const { worker } = queueWorker(main.name, 4, false);
  await once(worker, 'message');
  await main.detachQueue();
  const result = once(worker, 'message');
  await sendUdpFlows(net.host(2), 32100, 4);
  await result;
  const fdsWithWorker = openFdCount();
  await worker.terminate();
  // The worker's environment cleanup closed its queue: the device still has
  // ours (detached), and the fd count drops by the worker's one.
  assert.ok(openFdCount() < fdsWithWorker);
  await main.close();
  assert.equal(openFdCount(), fdsBefore);
  assert.equal(linkExists(main.name), false);
});
