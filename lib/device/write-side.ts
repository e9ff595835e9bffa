// A device's write side: `writable`, writePackets() and whenWritable(). Every
// path crosses into native code once per burst of up to 256 packets, and a
// packet the kernel refuses is a 'drop' unless the fd itself is gone.
import { toBuffer } from '../internal/bytes';
import { EAGAIN } from '../internal/errno';
import {
  TunError,
  deviceClosed,
  detachedError,
  discardedError,
  invalidType,
  outOfRange,
  type StateError,
} from '../internal/errors';
import type { NativeTunHandle } from '../internal/native';
import { dropHint, FATAL_WRITE_ERRORS, warnUnheardDrop, type DeviceCounters } from './stats';
import { PacketWritable } from './streams';
import { kWrite, kWriteFailed, kWritev, type DeviceCore, type WriteSide } from './symbols';

/** writePackets() reports a fatal error by its return value and the device's 'error'. */
function ignoreResult(): void {}

const NO_FAILURES: number[] = [];
const EMPTY_PACKET = Buffer.alloc(0);

/** The write side of one device queue: owns `writable` and the writes waiting for the fd. */
export class DeviceWriter implements WriteSide {
  readonly writable: PacketWritable;
  readonly maxPacketSize: number;
  readonly #device: DeviceCore;
  readonly #handle: NativeTunHandle;
  readonly #counters: DeviceCounters;
  /** The native side's per-packet results of the last write call (shared with it). */
  readonly #writeResults: Int32Array;
  readonly #viewDescriptors = new Float64Array(3 * 256);
  #dropWarned = false;
  /** The burst waiting for the fd to take writes again. */
  #onWritable: (() => void) | undefined;
  /** whenWritable()'s promises: settled together when the fd takes writes again, or the device closes. */
  #writableWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(
    device: DeviceCore,
    handle: NativeTunHandle,
    writeResults: Int32Array,
    counters: DeviceCounters,
    highWaterMark: number,
  ) {
    this.#device = device;
    this.maxPacketSize = device.maxPacketSize;
    this.#handle = handle;
    this.#writeResults = writeResults;
    this.#counters = counters;
    this.writable = new PacketWritable(this, highWaterMark);
  }

  /** TunDevice.whenWritable(). */
  whenWritable(): Promise<void> {
    if (this.#device.isClosed()) return Promise.reject(deviceClosed('whenWritable()', this.#device.name));
    return new Promise((resolve, reject) => {
      this.#writableWaiters.push({ resolve, reject });
      this.#handle.waitWritable();
    });
  }

  /** The native side's callback: the fd takes writes again. */
  writableAgain(): void {
    this.#onWritable?.();
    for (const waiter of this.#writableWaiters.splice(0)) waiter.resolve();
  }

  /** TunDevice.writePackets(). */
  writePackets(buffer: Uint8Array, descriptors: Uint32Array, count: number): number {
    if (!(buffer instanceof Uint8Array)) throw invalidType('buffer', 'a Buffer or Uint8Array', buffer);
    if (!(descriptors instanceof Uint32Array)) throw invalidType('descriptors', 'a Uint32Array', descriptors);
    if (!Number.isInteger(count)) throw invalidType('count', 'an integer', count);
    if (count < 0 || count > descriptors.length >>> 1)
      throw outOfRange('count', `>= 0 and <= ${descriptors.length >>> 1}`, count);
    const device = this.#device;
    device.assertOpen('writePackets()');
    // The same checks as writable.write(), for every packet, before any is written.
    for (let i = 0; i < count; i++) {
      const offset = descriptors[2 * i];
      const length = descriptors[2 * i + 1];
      if (length === 0 || length > this.maxPacketSize || offset + length > buffer.byteLength) {
        throw outOfRange(
          `descriptors[${2 * i}..${2 * i + 1}]`,
          `a packet of 1 to ${this.maxPacketSize} bytes inside the buffer (${buffer.byteLength} bytes)`,
          `[${offset}, ${length}]`,
        );
      }
    }
    let start = 0;
    while (start < count && !device.isClosed()) {
      // A 'drop' handler may have detached the memory: the rest is gone with it.
      if (buffer.byteLength === 0 || descriptors.length === 0) {
        for (; start < count && !device.isClosed(); start++) this.#drop(EMPTY_PACKET, detachedError(), true);
        return start;
      }
      const tried = this.#handle.writeSlab(buffer, descriptors, start, Math.min(count - start, this.#writeResults.length));
      const failures = this.#tally(tried);
      for (let f = 0; f < failures.length; f += 2) {
        const i = start + failures[f];
        const packet =
          buffer.byteLength === 0 ? buffer : buffer.subarray(descriptors[2 * i], descriptors[2 * i] + descriptors[2 * i + 1]);
        if (this.#packetFailed(packet, failures[f + 1], ignoreResult)) return i;
        // A 'drop' handler may have closed the device.
        if (device.isClosed()) return i + 1;
      }
      start += tried;
      if (tried === 0) break;
    }
    return start;
  }

  /** Writes one packet (write number `n`); calls back once it is written or dropped. */
  [kWrite](packet: Uint8Array, n: number, callback: (error?: Error | null) => void): void {
    // Only a burst that waited for the fd gets here closed: destroy() discards the packet.
    if (this.#device.isClosed()) {
      this.#failWrite(packet, n, discardedError(), false);
      callback();
      return;
    }
    if (packet.byteLength === 0) {
      this.#failWrite(packet, n, detachedError(), true);
      queueMicrotask(callback);
      return;
    }
    const written = this.#handle.write(packet);
    if (written >= 0) {
      this.#counters.packetsWritten++;
      this.#counters.bytesWritten += written;
      // Called back after the caller's synchronous code: the writes it makes
      // meanwhile queue up and reach the kernel as one _writev burst.
      queueMicrotask(callback);
    } else if (written === -EAGAIN) {
      this.#onWritable = () => {
        this.#onWritable = undefined;
        this[kWrite](packet, n, callback);
      };
      this.#handle.waitWritable();
    } else {
      if (!this.#packetFailed(packet, -written, callback)) callback();
    }
  }

  /**
   * Writes a burst of packets (Writable's queued chunks, write numbers from
   * `first`). A chunk whose memory was detached while queued fails alone.
   */
  [kWritev](chunks: ReadonlyArray<{ chunk: Uint8Array }>, first: number, callback: (error?: Error | null) => void): void {
    const device = this.#device;
    let start = 0;
    const step = (): void => {
      while (start < chunks.length) {
        if (device.isClosed()) {
          // destroy() discards the rest; the packets written before it succeeded.
          for (; start < chunks.length; start++) this.#failWrite(chunks[start].chunk, first + start, discardedError(), false);
          break;
        }
        if (chunks[start].chunk.byteLength === 0) {
          this.#failWrite(chunks[start].chunk, first + start, detachedError(), true);
          start++;
          continue;
        }
        const count = Math.min(chunks.length - start, this.#writeResults.length);
        const tried = this.#writeViews(chunks, start, count);
        const failures = this.#tally(tried);
        for (let f = 0; f < failures.length && !device.isClosed(); f += 2) {
          if (this.#packetFailed(chunks[start + failures[f]].chunk, failures[f + 1], callback)) return;
        }
        start += tried;
        // Fewer tried with the next chunk intact: the fd is full (EAGAIN).
        if (tried < count && !device.isClosed() && chunks[start].chunk.byteLength !== 0) {
          this.#onWritable = () => {
            this.#onWritable = undefined;
            step();
          };
          this.#handle.waitWritable();
          return;
        }
      }
      // After the caller's synchronous code, as _write does: Writable checks for
      // 'finish' when the callback runs, and must see an end() made in this burst.
      queueMicrotask(callback);
    };
    step();
  }

  /**
   * Hands chunks[start, start + count) to native code as views of the few
   * buffers a burst's packets share, read here rather than by N-API per packet.
   * Stops before a chunk whose memory is gone (detached): the caller drops it.
   */
  #writeViews(chunks: ReadonlyArray<{ chunk: Uint8Array }>, start: number, count: number): number {
    const d = this.#viewDescriptors;
    const buffers: Uint8Array[] = [];
    let last: ArrayBufferLike | undefined;
    for (let i = 0; i < count; i++) {
      const packet = chunks[start + i].chunk;
      if (packet.byteLength === 0) {
        count = i;
        break;
      }
      const memory = packet.buffer;
      if (memory !== last) {
        last = memory;
        buffers.push(new Uint8Array(memory));
      }
      d[3 * i] = buffers.length - 1;
      d[3 * i + 1] = packet.byteOffset;
      d[3 * i + 2] = packet.byteLength;
    }
    return count === 0 ? 0 : this.#handle.writeViews(buffers, d, count);
  }

  /**
   * A packet the kernel refused: one bad packet is a `drop`, and the stream
   * goes on; an fd that is gone is fatal. Returns true when it was fatal (the
   * callback has then been called).
   */
  #packetFailed(packet: Uint8Array, errno: number, callback: (error?: Error | null) => void): boolean {
    const device = this.#device;
    const error = new TunError(errno, 'write', { device: device.name, hint: dropHint(packet, errno, device) });
    if (FATAL_WRITE_ERRORS.has(error.code)) {
      // Destroyed first, so the callback's error cannot make `writable` emit one of its own.
      device.destroy(error);
      callback(error);
      return true;
    }
    // Not fatal: the stream's callback reports success so the next packet goes.
    this.#drop(packet, error, true);
    return false;
  }

  /** Write number `n` failed alone (detached, or discarded): its callback gets `error`, and it is a `drop`. */
  #failWrite(packet: Uint8Array, n: number, error: StateError, warn: boolean): void {
    this.writable[kWriteFailed](n, error);
    this.#drop(packet, error, warn);
  }

  /**
   * A packet not written: counted by reason and emitted as `drop`; with
   * nobody listening, said once (`warn`). A discard destroy() asked for is not warned about.
   */
  #drop(packet: Uint8Array, error: TunError | StateError, warn: boolean): void {
    const dropped = this.#counters.dropped;
    dropped[error.code] = (dropped[error.code] ?? 0) + 1;
    if (this.#device.hasDropListener()) {
      // A detached packet has no bytes left to show (and no memory to view).
      this.#device.emitDrop(packet.byteLength === 0 ? EMPTY_PACKET : toBuffer(packet), error);
    } else if (warn && !this.#dropWarned) {
      this.#dropWarned = true;
      warnUnheardDrop(error, this.#device.name);
    }
  }

  /**
   * The results of one native write call: successes go into the stats; the
   * failures come back as [index, errno] pairs, copied out before any 'drop'
   * handler runs (a handler may write again, and that reuses the results array).
   */
  #tally(tried: number): number[] {
    const results = this.#writeResults;
    let failures: number[] | undefined;
    let bytes = 0;
    for (let i = 0; i < tried; i++) {
      if (results[i] >= 0) bytes += results[i];
      else (failures ??= []).push(i, -results[i]);
    }
    this.#counters.packetsWritten += tried - (failures === undefined ? 0 : failures.length / 2);
    this.#counters.bytesWritten += bytes;
    return failures ?? NO_FAILURES;
  }

  /** The fd is closing: destroys `writable`; queued packets and waiting writes are discarded. */
  close(error: Error | undefined): void {
    const w = this.writable;
    const queued = w.destroyed ? [] : w.queuedPackets();
    // Only a listener gets the error: the device reports it once itself.
    if (!w.destroyed) w.destroy(error !== undefined && w.listenerCount('error') > 0 ? error : undefined);
    // A burst waiting for the fd discards its unwritten rest (now that
    // `writable` is destroyed, its callback cannot error the stream).
    const waiting = this.#onWritable;
    this.#onWritable = undefined;
    waiting?.();
    for (const waiter of this.#writableWaiters.splice(0)) waiter.reject(deviceClosed('whenWritable()', this.#device.name));
    // Writable's own destroy calls their callbacks with ERR_STREAM_DESTROYED.
    for (const packet of queued) this.#drop(packet, discardedError(), false);
  }
}
