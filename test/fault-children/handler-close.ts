// Closes or destroys a device from inside one of its handlers, then reports
// what happened: how often the handler ran, every uncaught error, whether
// close() settled, and the fd count before the open and after the close.
//
//   node handler-close.js <data|readBatches|drop|dropWritePackets|linkChange|up|addressAdded> <close|destroy> [thread]
// thread: the device reads on a reader thread (TunDeviceOptions.readerThread).
import dgram from 'node:dgram';
import { once } from 'node:events';
import { TunDevice } from '../../lib';
import { report } from '../fault-helpers';
import { bringUp, ip, linkExists, openFdCount, rejectAfter, uniqueName, uniqueSubnet } from '../helpers';

const [handler, action, how] = process.argv.slice(2);
const uncaught: string[] = [];
process.on('uncaughtException', (error) => uncaught.push(String(error.stack ?? error)));
process.on('unhandledRejection', (error) => uncaught.push(`unhandled rejection: ${String((error as Error)?.stack ?? error)}`));

const BURST = 32;
const thread = how === 'thread';
// With the thread, packets large enough (5 of 8028 bytes make 40 KiB) that
// the parts it reads reach `readable` in its own memory, not copied
// (PacketReader::ThreadPart): the handler closes inside such a part.
const PAYLOAD = thread ? 8000 : 64;

/** Datagrams into the device, sent before anyone reads, so the first read is a batch of them. */
async function burstInto(dev: TunDevice, count = BURST): Promise<void> {
  const net = uniqueSubnet();
  bringUp(dev.name, net);
  if (PAYLOAD > 1472) ip('link', 'set', 'dev', dev.name, 'mtu', '9000');
  const socket = dgram.createSocket('udp4');
  socket.bind(0, net.host(1));
  await once(socket, 'listening');
  for (let i = 0; i < count; i++) await new Promise((resolve) => socket.send(Buffer.alloc(PAYLOAD, i), 9, net.host(2), resolve));
  socket.close();
}

/**
 * With a reader thread, which reads only once the queue is busy: a burst of
 * more than maxBatch, queued before anyone reads, read by a handler that only
 * counts, hands the reading to the thread; the handler under test, in place
 * before the next burst, then runs on what the thread reads.
 */
async function engageThread(dev: TunDevice, listen: (count: (n: number) => void) => void): Promise<void> {
  await burstInto(dev);
  let read = 0;
  let reached = (): void => {};
  const done = new Promise<void>((resolve) => (reached = resolve));
  listen((n) => {
    read += n;
    if (read >= BURST) reached();
  });
  await Promise.race([done, rejectAfter(30_000, () => `the first burst: ${read} of ${BURST} read`)]);
}

/** Packets the kernel refuses (IP version 0: EINVAL), to make 'drop' events. */
function badPackets(): Buffer[] {
  return Array.from({ length: 8 }, () => Buffer.alloc(40));
}

/** Repeats `step` every 50 ms until `done()` (link events start only once the monitor's first snapshot is in). */
async function repeatUntil(done: () => boolean, step: (i: number) => void): Promise<void> {
  for (let i = 0; !done() && i < 600; i++) {
    step(i);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main(): Promise<void> {
  const fdsBefore = openFdCount();
  // With the thread, a readable that stops reading once 16 packets wait in
  // it (pause() alone does not stop it), so that most of a burst sent while
  // it is paused waits in the kernel, and is read in full batches after.
  const dev = await TunDevice.open({
    name: uniqueName('hc'),
    readerThread: thread,
    ...(thread ? { maxBatch: 8, readableHighWaterMark: 16 } : {}),
  });
  const name = dev.name;
  let calls = 0;
  let callsAfterAct = 0;
  // With the thread, the handler acts in the first part the thread handed
  // over in its own memory (a Buffer over that part, not a 1 MiB slab), not
  // in one the loop read or copied. Which parts go so depends on timing (a
  // busy machine shrinks them below the bound): at the burst's last packet
  // it acts anyway, and the report says which it was.
  const lastBurst = handler === 'data' ? 3 * BURST : BURST;
  let passed = 0;
  let inOwnMemory = false;
  const act = (memory?: unknown, _descriptors?: unknown, count?: unknown): void => {
    if (thread && calls === 0) {
      passed += typeof count === 'number' ? count : 1;
      inOwnMemory = memory instanceof Uint8Array && memory.buffer.byteLength < 1 << 20;
      if (!inOwnMemory && passed < lastBurst) return;
    }
    calls++;
    if (calls > 1) {
      callsAfterAct++;
      return;
    }
    if (action === 'close') void dev.close();
    else dev.destroy();
  };
  const closed = once(dev, 'close');
  switch (handler) {
    // Without a thread the burst waits in the kernel for the handler; with
    // one, the handler is in place before the burst the thread reads, which
    // waits in the kernel while reading is paused (past readable's 16), so
    // the thread reads it in full batches.
    case 'data':
      if (thread) await engageThread(dev, (count) => dev.readable.on('data', () => count(1)));
      else await burstInto(dev);
      dev.readable.on('data', act);
      if (thread) {
        dev.readable.pause();
        await burstInto(dev, lastBurst);
        dev.readable.resume();
      }
      break;
    case 'readBatches':
      if (thread) await engageThread(dev, (count) => dev.readBatches((_slab, _d, n) => count(n)));
      else await burstInto(dev);
      dev.readBatches(act);
      if (thread) {
        dev.pauseBatches();
        await burstInto(dev, lastBurst);
        dev.readBatches(act);
      }
      break;
    case 'drop':
      dev.on('drop', act);
      dev.writable.cork();
      for (const p of badPackets()) dev.writable.write(p);
      dev.writable.uncork();
      break;
    case 'dropWritePackets': {
      dev.on('drop', act);
      const slab = Buffer.concat(badPackets());
      const d = new Uint32Array(16);
      for (let i = 0; i < 8; i++) d.set([i * 40, 40], 2 * i);
      dev.writePackets(slab, d, 8);
      break;
    }
    case 'linkChange':
    case 'up':
      dev.on(handler, act);
      await repeatUntil(
        () => calls > 0,
        (i) => ip('link', 'set', name, i % 2 === 0 ? 'up' : 'down'),
      );
      break;
    case 'addressAdded':
      dev.on('addressAdded', act);
      await repeatUntil(
        () => calls > 0,
        (i) => ip('addr', 'add', `10.252.${process.pid % 250}.${i + 1}/32`, 'dev', name),
      );
      break;
    default:
      throw new Error(`unknown handler ${handler}`);
  }
  let settled = true;
  try {
    await Promise.race([closed, rejectAfter(30_000, () => `no 'close' event (the handler ran ${calls} times)`)]);
    await Promise.race([dev.close(), rejectAfter(30_000, () => 'close() did not settle')]);
  } catch (error) {
    settled = false;
    uncaught.push(String(error));
  }
  // Let anything the close left behind (a late push, a late callback) surface.
  await new Promise((resolve) => setTimeout(resolve, 50));
  report({
    calls,
    callsAfterAct,
    ...(thread ? { inOwnMemory } : {}),
    settled,
    uncaught,
    fdsBefore,
    fdsAfter: openFdCount(),
    linkGone: !linkExists(name),
    fd: dev.fd,
  });
  reported = true;
}

// A close that never settles and holds nothing open lets the loop run empty:
// the process would end with code 0 and say nothing.
let reported = false;
process.on('exit', () => {
  if (!reported) report({ settled: false, uncaught: [...uncaught, 'the event loop ran empty while close() was pending'] });
});

void main().catch((error: unknown) => {
  report({ failed: String((error as Error).stack ?? error) });
  process.exitCode = 1;
});
