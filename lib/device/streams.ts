// A device's two streams: `readable` (one Buffer per packet, never merged or
// split) and `writable` (one packet per write), and the errors they raise.
// The device behind them is reached through the symbols of ./symbols.
import { Readable, Writable } from 'node:stream';
import { destroyedError, invalidType, outOfRange, readSideTaken, writeAfterEnd, type StateError } from '../internal/errors';
import {
  kBatchReading,
  kStartReading,
  kStopReading,
  kWrite,
  kWriteFailed,
  kWritev,
  type ReadSide,
  type WriteSide,
} from './symbols';

/**
 * `readable`: a Readable whose read() asks the device for packets. Once
 * readBatches() owns the read side, starting to consume `readable` throws at
 * the caller's line (ERR_READ_SIDE_TAKEN) instead of failing later as an
 * unhandled 'error'.
 */
export class DeviceReadable extends Readable {
  readonly #device: ReadSide;

  constructor(device: ReadSide, highWaterMark: number) {
    super({ objectMode: true, highWaterMark });
    this.#device = device;
  }

  override _read(): void {
    this.#device[kStartReading]();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#device[kStopReading]();
    callback(error);
  }

  #assertReadSideFree(what: string): void {
    if (this.#device[kBatchReading]) throw readSideTaken(what, 'readBatches()');
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Readable's own signature (@types/node)
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === 'data' || event === 'readable') this.#assertReadSideFree(`readable.on('${event}')`);
    return super.on(event, listener);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Readable's own signature (@types/node)
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  override resume(): this {
    this.#assertReadSideFree('readable.resume()');
    return super.resume();
  }
}

/**
 * `writable`: a Writable that hands each packet, or a burst of queued ones,
 * to its device; a packet of the wrong type or size throws at write().
 */
export class PacketWritable extends Writable {
  readonly #device: WriteSide;
  /** Writes passed on to Writable, and how many of them the device was handed: numbers in write order. */
  #numbered = 0;
  #handed = 0;
  /**
   * Writes that failed alone (their memory was detached, or destroy()
   * discarded them), by number, until their callbacks hear it: Writable has
   * one callback for a burst, and an error there would end the stream.
   */
  readonly #failures = new Map<number, Error>();

  constructor(device: WriteSide, highWaterMark: number) {
    super({ highWaterMark, decodeStrings: false });
    this.#device = device;
  }

  // Checked here, before anything is queued, so a bad packet throws at the
  // caller's line (as Node's streams do for a chunk of the wrong type).
  override write(
    chunk: unknown,
    encoding?: BufferEncoding | ((error: Error | null | undefined) => void),
    callback?: (error: Error | null | undefined) => void,
  ): boolean {
    this.#checkPacket(chunk);
    const cb = typeof encoding === 'function' ? encoding : callback;
    // A write that comes after close() began (a socket's 'message' handler,
    // say) gets its error through its callback, as a write after destroy()
    // does in Node; it must not destroy the stream and leave close() waiting.
    if (this.writableEnded || this.destroyed) {
      const error = this.writableEnded ? writeAfterEnd() : destroyedError();
      if (cb !== undefined) process.nextTick(cb, error);
      else warnLateWrite(error);
      return false;
    }
    return super.write(chunk, this.#number(cb));
  }

  // end(packet) writes the packet first: it gets the same checks as write().
  // Node's forms: end(cb), end(chunk, cb), end(chunk, encoding, cb).
  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    if (typeof chunk === 'function') return super.end(chunk as () => void);
    const cb = (typeof encoding === 'function' ? encoding : callback) as (() => void) | undefined;
    if (chunk !== undefined && chunk !== null) {
      this.#checkPacket(chunk);
      if (!this.writableEnded && !this.destroyed) super.write(chunk, this.#number(undefined));
    }
    return super.end(cb);
  }

  /** @internal The device could not write write number `n` (its callback gets `error`); the stream goes on. */
  [kWriteFailed](n: number, error: Error): void {
    this.#failures.set(n, error);
  }

  /**
   * @internal The packets queued and not yet handed to the device, which destroy() discards:
   * Writable's writableBuffer (undeclared in @types/node); none where a runtime lacks it.
   */
  queuedPackets(): Uint8Array[] {
    const queued = (this as unknown as { writableBuffer?: ReadonlyArray<{ chunk: Uint8Array }> }).writableBuffer;
    return queued?.map((entry) => entry.chunk) ?? [];
  }

  /** Numbers the next write; its callback, if any, also hears of a failure the device reports for it. */
  #number(callback: ((error: Error | null | undefined) => void) | undefined): ((error?: Error | null) => void) | undefined {
    const n = this.#numbered++;
    if (callback === undefined) return undefined;
    return (error) => callback(error ?? this.#takeFailure(n));
  }

  /** The failure of write `n`, if any; failures of earlier writes are forgotten (their callbacks have run, or there were none). */
  #takeFailure(n: number): Error | null {
    if (this.#failures.size === 0) return null;
    let failure: Error | null = null;
    for (const [k, error] of this.#failures) {
      if (k > n) break;
      if (k === n) failure = error;
      this.#failures.delete(k);
    }
    return failure;
  }

  #checkPacket(chunk: unknown): asserts chunk is Uint8Array {
    if (!(chunk instanceof Uint8Array)) throw invalidType('packet', 'a Buffer or Uint8Array', chunk);
    if (chunk.byteLength === 0) throw outOfRange('packet.length', '>= 1 (an empty packet)', 0);
    if (chunk.byteLength > this.#device.maxPacketSize) {
      throw outOfRange('packet.length', `<= ${this.#device.maxPacketSize}`, chunk.byteLength);
    }
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Detached while it waited alone: Writable counted its bytes when it was
    // queued but measures it as 0 now, so its length would never drop back to
    // 0 and 'finish' never come. Those bytes are all Writable holds here.
    if (chunk.byteLength === 0) fixDetachedLength(this);
    this.#device[kWrite](chunk, this.#handed++, callback);
  }

  override _writev(chunks: Array<{ chunk: Uint8Array }>, callback: (error?: Error | null) => void): void {
    const first = this.#handed;
    this.#handed += chunks.length;
    this.#device[kWritev](chunks, first, callback);
  }
}

/**
 * Makes the lone queued chunk Writable is starting take away all the bytes Writable counts, as
 * it did before its memory was detached. Writable's state is internal: without it, nothing to do.
 */
function fixDetachedLength(stream: Writable): void {
  const state = (stream as unknown as { _writableState?: { length?: unknown; writelen?: unknown } })._writableState;
  if (state !== undefined && typeof state.length === 'number' && state.writelen === 0) state.writelen = state.length;
}

/**
 * Node's own Buffer class (FastBuffer, Buffer's species), which makes a packet's view without the
 * argument clamping of slab.subarray(); Buffer.from(memory, offset, length) where Node hides it.
 */
export const PacketView: new (memory: ArrayBufferLike, offset: number, length: number) => Buffer = (() => {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species === 'function' && species !== Buffer) {
    const Species = species as new (memory: ArrayBufferLike, offset: number, length: number) => Buffer;
    const probe = new Species(new ArrayBuffer(2), 1, 1);
    if (Buffer.isBuffer(probe) && Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1) return Species;
  }
  return function PacketView(memory: ArrayBufferLike, offset: number, length: number): Buffer {
    return Buffer.from(memory, offset, length);
  } as unknown as new (memory: ArrayBufferLike, offset: number, length: number) => Buffer;
})();

let lateWriteWarned = false;
/** A late write with no callback to tell: say so once per process, not silently. */
export function warnLateWrite(error: StateError): void {
  if (lateWriteWarned) return;
  lateWriteWarned = true;
  process.emitWarning(`${error.message} (further late writes are not reported)`, { code: error.code, type: 'TunDeviceWarning' });
}
