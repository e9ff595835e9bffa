// A device's read side: `readable`, readBatches() and the reader thread's
// hand-over at close. Only one of the two may read: a packet the kernel hands
// over is gone, so two readers would each see a random half.
import { markAsUntransferable } from 'node:worker_threads';
import { listenForAbort } from '../internal/abort';
import { invalidType, readSideTaken } from '../internal/errors';
import type { NativeTunHandle } from '../internal/native';
import { validateAbortSignal, validateBoolean, validateObject } from '../internal/validators';
import type { PacketBatchHandler, ReadBatchesOptions } from './options';
import type { PacketReadable } from './packet-readable';
import type { DeviceCounters } from './stats';
import { DeviceReadable, PacketView as PacketViewClass } from './streams';
import { kBatchReading, kStartReading, kStopReading, type DeviceCore, type ReadSide } from './symbols';

// A module constant, so that onRead's `new` per packet reads no export property.
const PacketView = PacketViewClass;

/** The read side of one device queue: owns `readable` and the batch handler. */
export class DeviceReader implements ReadSide {
  readonly readable: PacketReadable;
  readonly #device: DeviceCore;
  readonly #handle: NativeTunHandle;
  readonly #counters: DeviceCounters;
  readonly #maxBatch: number;
  #reading = false;
  /** The queue is detached (detachQueue()): nothing arrives, so nothing is polled. */
  #detached = false;
  /** onRead is pushing a batch into `readable`: an end must wait for the batch's last packet. */
  #pushing = false;
  /** The memory of the last batch pushed into `readable`, marked untransferable. */
  #pushedMemory: ArrayBufferLike | undefined;
  #endAfterPush = false;
  /** Packets the native side hands over per onRead call: `readable`'s free room, or maxBatch for readBatches(). */
  #readBudget: number;
  /** Set by readBatches(): from then on the batches, not `readable`, get the packets. */
  #batchHandler: PacketBatchHandler | undefined;
  /** Removes the abort listener of readBatches()'s signal, so the signal does not hold the device. */
  #stopAbortListening: (() => void) | undefined;

  constructor(device: DeviceCore, handle: NativeTunHandle, counters: DeviceCounters, maxBatch: number, highWaterMark: number) {
    this.#device = device;
    this.#handle = handle;
    this.#counters = counters;
    this.#maxBatch = maxBatch;
    this.#readBudget = maxBatch;
    this.readable = new DeviceReadable(this, highWaterMark) as PacketReadable;
  }

  /** The native side's callback: one batch of `count` packets in `slab`. */
  onRead(slab: Buffer, d: Uint32Array, count: number, bytes: number): void {
    this.#counters.packetsRead += count;
    this.#counters.bytesRead += bytes;
    if (this.#batchHandler !== undefined) {
      // false pauses as pauseBatches() would, but keeps the signal's listener.
      if (this.#batchHandler(slab, d, count) === false && this.#reading && !this.#device.isClosed()) {
        this.#reading = false;
        this.#handle.stopReading();
      }
      return;
    }
    const r = this.readable;
    const memory = slab.buffer;
    const base = slab.byteOffset;
    // A packet's memory holds the rest of the batch: a 'data' handler that
    // transferred it to a worker would detach them. Untransferable, it is
    // copied instead, as Node does with its Buffer pool.
    if (memory !== this.#pushedMemory) {
      this.#pushedMemory = memory;
      markAsUntransferable(memory);
    }
    let more = true;
    let i = 0;
    // push() runs 'data' handlers, which may close or destroy the device.
    this.#pushing = true;
    try {
      for (; i < count && !r.destroyed; i++) {
        more = r.push(new PacketView(memory, base + d[2 * i], d[2 * i + 1]));
      }
    } finally {
      this.#pushing = false;
    }
    // readable was destroyed under the batch (destroy(error) from a handler).
    if (i < count) this.#counters.discardedAtClose(count - i);
    if (this.#endAfterPush) {
      this.#endAfterPush = false;
      if (!r.destroyed) r.push(null);
    } else if (!more) {
      this[kStopReading]();
    } else if (!this.#device.isClosed()) {
      this.#setReadBudget(r.readableHighWaterMark - r.readableLength);
    }
  }

  /**
   * The next onRead call brings at most `packets`: `readable` then never
   * holds more than its highWaterMark, while one wake-up still reads up to
   * maxBatch in several calls.
   */
  #setReadBudget(packets: number): void {
    if (packets !== this.#readBudget) {
      this.#readBudget = packets;
      this.#handle.setReadBudget(packets);
    }
  }

  /** Whether readBatches() owns the read side. */
  get [kBatchReading](): boolean {
    return this.#batchHandler !== undefined;
  }

  /** Called by `readable` when it wants packets. */
  [kStartReading](): void {
    if (this.#batchHandler !== undefined) {
      this.readable.destroy(readSideTaken('readable', 'readBatches()'));
      return;
    }
    if (this.#device.isClosed()) return;
    const r = this.readable;
    this.#setReadBudget(Math.max(1, r.readableHighWaterMark - r.readableLength));
    if (!this.#reading) {
      this.#reading = true;
      if (!this.#detached) this.#handle.startReading();
    }
  }

  /** Called when `readable` is full or destroyed. */
  [kStopReading](): void {
    // readable's pause or destroy must not stop readBatches().
    if (this.#reading && this.#batchHandler === undefined) {
      this.#reading = false;
      this.#handle.stopReading();
    }
  }

  /** TunDevice.readBatches(). */
  readBatches(handler: PacketBatchHandler, options: ReadBatchesOptions): void {
    if (typeof handler !== 'function') throw invalidType('handler', 'a function', handler);
    validateObject(options, 'options');
    const reuseSlab = validateBoolean(options.reuseSlab, 'options.reuseSlab', false);
    const { signal } = options;
    if (signal !== undefined) validateAbortSignal(signal, 'options.signal');
    this.#device.assertOpen('readBatches()');
    const r = this.readable;
    if (this.#batchHandler === undefined && (this.#reading || r.readableFlowing !== null || r.readableDidRead || r.destroyed)) {
      throw readSideTaken('readBatches()', 'readable');
    }
    this.#batchHandler = handler;
    this.#handle.setSlabReuse(reuseSlab);
    this.#setReadBudget(this.#maxBatch);
    // This call's options replace the last one's, its signal included.
    this.#stopAbortListening?.();
    this.#stopAbortListening = undefined;
    if (signal?.aborted) return;
    this.#reading = true;
    this.#handle.startReading();
    if (signal !== undefined) this.#stopAbortListening = listenForAbort(signal, () => this.pauseBatches());
  }

  /** TunDevice.pauseBatches(). */
  pauseBatches(): void {
    this.#stopAbortListening?.();
    this.#stopAbortListening = undefined;
    if (this.#batchHandler !== undefined && this.#reading) {
      this.#reading = false;
      this.#handle.stopReading();
    }
  }

  /** TunDevice.resumeBatches(). */
  resumeBatches(): void {
    this.#device.assertOpen('resumeBatches()');
    if (this.#batchHandler !== undefined && !this.#reading) {
      this.#reading = true;
      this.#handle.startReading();
    }
  }

  /** Whether the queue is attached (detachQueue() stops the polling, attachQueue() resumes it). */
  get queueAttached(): boolean {
    return !this.#detached;
  }

  /** The queue was detached: nothing will arrive, so stop polling for reads. */
  onQueueDetached(): void {
    this.#detached = true;
    this.#handle.stopReading();
  }

  /** The queue was attached again: resume the reading it had. */
  onQueueAttached(): void {
    if (!this.#detached) return;
    this.#detached = false;
    if (this.#reading) this.#handle.startReading();
  }

  /**
   * The device is closing: stop reading. What a reader thread took from the
   * kernel reaches readable or the batch handler first when `deliver`; what
   * cannot (destroy(error), a close from inside a read callback) is counted.
   */
  stop(deliver: boolean): void {
    this.#reading = false;
    this.#stopAbortListening?.();
    this.#stopAbortListening = undefined;
    const rest = this.#handle.stopReader(deliver);
    if (rest !== undefined && rest[0] > 0) {
      this.#counters.packetsRead += rest[0];
      this.#counters.bytesRead += rest[1];
      this.#counters.discardedAtClose(rest[0]);
    }
    this.#pushedMemory = undefined;
  }

  /** Ends `readable` once the fd is closing: packets pushed stay readable unless `error` destroys it. */
  end(error: Error | undefined): void {
    const r = this.readable;
    if (r.destroyed) return;
    if (error !== undefined) {
      // Read, pushed, and never to be read from readable.
      this.#counters.discardedAtClose(r.readableLength);
      // Only a listener gets the error: the device reports it once itself.
      r.destroy(r.listenerCount('error') > 0 ? error : undefined);
    }
    // Closed from a 'data' handler: the rest of the batch is pushed before the end.
    else if (this.#pushing) this.#endAfterPush = true;
    else r.push(null);
  }
}
