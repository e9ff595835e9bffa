// The body of the workers that test/fault-children/workers.ts starts: each
// loads the library itself (the main thread there may not have), does one
// job, and tells the main thread when it is at the point where it should be
// terminated.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { Netlink, TunDevice } from '../../lib';

export interface WorkerJob {
  kind: 'flood' | 'self-exit' | 'busy' | 'watch';
  /** The device to open. */
  name: string;
  /** A /24 prefix ('10.1.2') only this job uses. */
  subnet: string;
  /** self-exit: end by process.exit() or by the loop running empty (everything unref'd). */
  end?: 'process.exit' | 'natural';
  /** flood, self-exit: the device reads on a reader thread (TunDeviceOptions.readerThread). */
  readerThread?: boolean;
}

const job = workerData as WorkerJob;
const port = parentPort!;

/** Opens a device, addresses it, and reads the UDP datagrams a socket of ours floods it with, until terminated. */
async function flood(): Promise<void> {
  // A small maxBatch: the thread reads only once a wake-up finds a full batch
  // and more waiting, which bursts of 64 then do. Its packets are large
  // enough (32 of 1228 bytes) that parts of its batches reach `readable` in
  // the thread's own memory, not copied (PacketReader::ThreadPart), so a
  // worker ends with Buffers over the thread's slabs still uncollected.
  const thread = job.readerThread === true;
  const dev = await TunDevice.open({ name: job.name, readerThread: thread, ...(thread ? { maxBatch: 32 } : {}) });
  await dev.addAddress(`${job.subnet}.1/24`);
  await dev.up();
  const socket = dgram.createSocket('udp4');
  socket.bind(0, `${job.subnet}.1`);
  await once(socket, 'listening');
  let read = 0;
  dev.readable.on('data', () => {
    if (++read === 64) port.postMessage('flooding');
  });
  const payload = Buffer.alloc(thread ? 1200 : 64);
  // Bounded even if nobody terminates us.
  const deadline = Date.now() + 30_000;
  const pump = (): void => {
    if (Date.now() > deadline) return void socket.close();
    for (let i = 0; i < 64; i++) socket.send(payload, 9, `${job.subnet}.2`);
    setImmediate(pump);
  };
  pump();
}

/** Opens a device, a watcher and a Netlink, uses them, and ends with all three open. */
async function selfExit(): Promise<void> {
  const dev = await TunDevice.open({ name: job.name, readerThread: job.readerThread === true });
  // Reading, so that a reader thread is running when the worker ends.
  if (job.readerThread === true) dev.readable.resume();
  const watcher = await Netlink.watch();
  const netlink = await Netlink.open();
  await netlink.links();
  await dev.addAddress(`${job.subnet}.1/24`);
  if (job.end === 'process.exit') process.exit(0);
  dev.unref();
  watcher.unref();
}

/** Opens a device and never returns from a loop of addon calls: terminate() lands inside one. */
async function busy(): Promise<void> {
  const dev = await TunDevice.open({ name: job.name });
  dev.on('error', () => {});
  // An IPv4 header alone: the kernel takes it (and its stack drops it).
  const packet = Buffer.alloc(20);
  packet[0] = 0x45;
  packet.writeUInt16BE(20, 2);
  const descriptors = new Uint32Array([0, 20]);
  port.postMessage('busy');
  let sink = 0;
  for (;;) {
    sink += dev.fd;
    sink += dev.stats.packetsWritten;
    sink += dev.writePackets(packet, descriptors, 1);
    if (sink < 0) break;
  }
}

/** Watches addresses until terminated; says so after 50 events of the flood the main thread makes. */
async function watch(): Promise<void> {
  const watcher = await Netlink.watch({ links: true, addresses: true });
  watcher.on('error', () => {});
  let seen = 0;
  watcher.on('address', () => {
    if (++seen === 50) port.postMessage('watching');
  });
  watcher.on('addressRemoved', () => {
    if (++seen === 50) port.postMessage('watching');
  });
}

const jobs: Record<WorkerJob['kind'], () => Promise<void>> = { flood, 'self-exit': selfExit, busy, watch };
jobs[job.kind]().catch((error: unknown) => {
  // The main thread reports it; an unexpected failure is not a crash.
  port.postMessage({ failed: String((error as Error).stack ?? error) });
});
