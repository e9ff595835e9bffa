import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import type TypedEmitter from 'typed-emitter';
import {
  StateError,
  TunError,
  fromNative,
  invalidType,
  invalidValue,
  outOfRange,
} from './errors';
import { native, type NativeTunHandle } from './native';

/** 'tun' carries IP packets; 'tap' carries Ethernet frames. */
export type TunMode = 'tun' | 'tap';

export interface TunDeviceOptions {
  /**
   * The interface name, at most 15 bytes. Omitted or '': the kernel picks
   * tunN / tapN. A name with '%d' ('vpn%d') is a template the kernel fills.
   */
  name?: string;
  /** Default 'tun'. */
  mode?: TunMode;
  /**
   * Keep the kernel's 4-byte packet information header (flags, then the
   * EtherType of the packet) in front of every packet read and written.
   * Default false (IFF_NO_PI).
   */
  packetInfo?: boolean;
  /** The clone device; default '/dev/net/tun'. */
  path?: string;
  /** Packets `readable` buffers before it stops reading from the kernel. Default 64. */
  readableHighWaterMark?: number;
  /** Bytes `writable` queues before write() returns false. Default 256 KiB. */
  writableHighWaterMark?: number;
  /** Packets read from the kernel per event-loop wake-up, at most. Default 64. */
  maxBatch?: number;
}

/** The events a TunDevice emits. */
export type TunDeviceEvents = {
  /** The device is closed: the fd is released and both streams are done. */
  close: () => void;
  /** A fatal error (the fd broke, the device was deleted); `close` follows. */
  error: (error: Error) => void;
  /**
   * The kernel rejected one written packet (a malformed header, say). The
   * packet is dropped and `writable` goes on with the next one.
   */
  drop: (packet: Buffer, error: TunError) => void;
};

/**
 * Called by {@link TunDevice.readBatches} once per batch. Packet i is
 * `slab.subarray(descriptors[2 * i], descriptors[2 * i] + descriptors[2 * i + 1])`.
 *
 * ```ts
 * const onBatch: PacketBatchHandler = (slab, d, count) => { packets += count; };
 * ```
 */
export type PacketBatchHandler = (slab: Buffer, descriptors: Uint32Array, count: number) => void;

/** Options of {@link TunDevice.readBatches}. */
export interface ReadBatchesOptions {
  /**
   * Read every batch into the same memory: no allocation per batch and a warm
   * cache, but a packet view is valid only until the handler returns. Default false.
   */
  reuseSlab?: boolean;
}

/** The largest IP packet (IPv6: 40-byte header + 65535 payload). */
const MAX_IP_PACKET = 65575;
/** Ethernet header with one VLAN tag. */
const MAX_LINK_HEADER = 18;
const PACKET_INFO_SIZE = 4;
const DEFAULT_PATH = '/dev/net/tun';

/** Errors after which the fd is useless: the device is closed with them. */
const FATAL_WRITE_ERRORS = new Set(['EBADF', 'EBADFD', 'ENODEV', 'ENXIO']);

const kStartReading = Symbol('startReading');
const kStopReading = Symbol('stopReading');
const kWrite = Symbol('write');
const kWritev = Symbol('writev');

// EventEmitter typed by TunDeviceEvents (typed-emitter is types only).
const TypedEventEmitter = EventEmitter as unknown as new () => TypedEmitter<TunDeviceEvents>;

/**
 * An open TUN or TAP device.
 *
 * ```ts
 * const dev = await TunDevice.open({ name: 'tun1' });
 * dev.readable.on('data', (packet: Buffer) => console.log(`Read ${packet.length} bytes`));
 * dev.writable.write(reply);
 * await dev.close();
 * ```
 */
export class TunDevice extends TypedEventEmitter implements AsyncDisposable {
  /** The interface name the kernel gave the device. */
  readonly name: string;
  readonly mode: TunMode;
  /** The interface index: stays right if the device is renamed. */
  readonly index: number;
  /** Whether packets carry the 4-byte packet information header. */
  readonly packetInfo: boolean;
  /** Packets read from the device, one per chunk (a Buffer), never merged or split. */
  readonly readable: Readable;
  /** Packets to write to the device, one per write (a Buffer or Uint8Array). */
  readonly writable: Writable;
  /** The largest packet `writable` accepts, headers included. */
  readonly maxPacketSize: number;

  #handle: NativeTunHandle;
  #descriptors: Uint32Array;
  #writeResults: Int32Array;
  #reading = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #onWritable: (() => void) | undefined;
  #batchHandler: PacketBatchHandler | undefined;
  #batchMode = false;

  /** Opens a device; see {@link TunDeviceOptions}. Needs CAP_NET_ADMIN unless the device is persistent and owned by this user. */
  static async open(options: TunDeviceOptions = {}): Promise<TunDevice> {
    return new TunDevice(options);
  }

  private constructor(options: TunDeviceOptions) {
    super();
    const opts = validateOptions(options);
    const c = native.constants;
    const flags = (opts.mode === 'tap' ? c.IFF_TAP : c.IFF_TUN) | (opts.packetInfo ? 0 : c.IFF_NO_PI);
    let opened: { fd: number; name: string; flags: number };
    try {
      opened = native.openTun(opts.path, opts.name, flags);
    } catch (error) {
      throw fromNative(error, { device: opts.name || undefined, path: opts.path });
    }
    this.name = opened.name;
    this.mode = opts.mode;
    this.packetInfo = opts.packetInfo;
    this.maxPacketSize =
      (opts.packetInfo ? PACKET_INFO_SIZE : 0) + (opts.mode === 'tap' ? MAX_LINK_HEADER : 0) + MAX_IP_PACKET;
    this.#descriptors = new Uint32Array(opts.maxBatch * 2);
    this.#writeResults = new Int32Array(256);
    let handle: NativeTunHandle | undefined;
    try {
      this.index = native.interfaceIndex(this.name);
      handle = new native.TunHandle(
        opened.fd,
        // Room for the largest packet the kernel could hand us, so no read is truncated.
        this.maxPacketSize + 64,
        this.#descriptors,
        this.#writeResults,
        (slab, count) => this.#onRead(slab, count),
        () => this.#onWritable?.(),
        (errno, syscall) => this.destroy(new TunError(errno, syscall, { device: this.name })),
      );
    } catch (error) {
      // The handle owns the fd once constructed; before that it is ours to close.
      if (handle === undefined) closeFd(opened.fd);
      throw fromNative(error, { device: this.name });
    }
    this.#handle = handle;
    const device = this;
    this.readable = new Readable({
      objectMode: true,
      highWaterMark: opts.readableHighWaterMark,
      read() {
        device[kStartReading]();
      },
      destroy(error, callback) {
        device[kStopReading]();
        callback(error);
      },
    });
    this.writable = new PacketWritable(this, opts.writableHighWaterMark);
  }

  /** The device's MTU, as the kernel has it now. */
  get mtu(): number {
    this.#assertOpen('mtu');
    try {
      return native.interfaceMtu(this.name);
    } catch (error) {
      throw fromNative(error, { device: this.name });
    }
  }

  /** The file descriptor of the queue (-1 once closed). For inspection, not for reading. */
  get fd(): number {
    return this.#closed ? -1 : this.#handle.fd;
  }

  /** Whether close() or destroy() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Let the process exit while this device is still open (like socket.unref()). */
  unref(): this {
    if (!this.#closed) this.#handle.unref();
    return this;
  }

  /** Undo unref(). */
  ref(): this {
    if (!this.#closed) this.#handle.ref();
    return this;
  }

  /**
   * Flushes the packets queued on `writable`, stops reading, ends `readable`
   * (packets already read stay readable) and closes the fd. Idempotent: every
   * call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closePromise === undefined) {
      this.#closePromise = (async () => {
        const w = this.writable;
        if (!w.destroyed && !w.writableFinished) {
          await new Promise<void>((resolve) => {
            w.once('finish', resolve);
            w.once('close', resolve);
            w.end();
          });
        }
        this.#teardown(undefined);
      })();
    }
    return this.#closePromise;
  }

  /** Closes at once: queued writes are discarded. With an error, emits `error` first. */
  destroy(error?: Error): void {
    if (this.#closed) return;
    this.#closePromise ??= Promise.resolve();
    this.#teardown(error);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #teardown(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#onWritable = undefined;
    this.#batchHandler = undefined;
    this.#handle.close();
    // The streams get the error only where someone listens for it; the device
    // itself reports it once, so an unhandled fatal error throws once.
    const r = this.readable;
    if (!r.destroyed) {
      if (error !== undefined) r.destroy(r.listenerCount('error') > 0 ? error : undefined);
      else r.push(null);
    }
    const w = this.writable;
    if (!w.destroyed) w.destroy(error !== undefined && w.listenerCount('error') > 0 ? error : undefined);
    process.nextTick(() => {
      if (error !== undefined) this.emit('error', error);
      this.emit('close');
    });
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new StateError('ERR_DEVICE_CLOSED', `Cannot use ${what}: device '${this.name}' is closed`);
  }

  #onRead(slab: Buffer, count: number): void {
    if (this.#batchHandler !== undefined) {
      this.#batchHandler(slab, this.#descriptors, count);
      return;
    }
    const d = this.#descriptors;
    const r = this.readable;
    let more = true;
    for (let i = 0; i < count; i++) {
      const offset = d[2 * i];
      more = r.push(slab.subarray(offset, offset + d[2 * i + 1]));
    }
    if (!more) this[kStopReading]();
  }

  [kStartReading](): void {
    if (this.#batchMode) {
      this.readable.destroy(readSideTaken('readable', 'readBatches()'));
      return;
    }
    if (!this.#reading && !this.#closed) {
      this.#reading = true;
      this.#handle.startReading();
    }
  }

  [kStopReading](): void {
    // readable's pause or destroy must not stop readBatches().
    if (this.#reading && !this.#batchMode) {
      this.#reading = false;
      this.#handle.stopReading();
    }
  }

  // ---- Batches: the read and write sides without the streams -------------
  // One handler call per kernel wake-up with the native slab and the shared
  // descriptor array, so a batch allocates nothing in JS; `readable` pays one
  // view and one push per packet on top. Only one of the two may read: a
  // packet the kernel hands over is gone, so two readers would each see a
  // random half.

  /**
   * Reads packets in batches instead of through `readable`: `handler` is called
   * once per event-loop wake-up with up to `maxBatch` packets. Packet i is
   * `slab.subarray(descriptors[2 * i], descriptors[2 * i] + descriptors[2 * i + 1])`.
   * `descriptors` is reused by the next batch: read it before returning. By
   * default a slab region is never reused, so views may be kept; with
   * `{ reuseSlab: true }` every batch overwrites the last (no allocation, and
   * the memory stays in the CPU cache), so views are valid only until the
   * handler returns: copy what you keep, and do not queue views on a stream.
   *
   * Calling it again replaces the handler and options. From the first call
   * on, `readable` cannot be used (it is destroyed with ERR_READ_SIDE_TAKEN if
   * read); if `readable` has already been read from, this throws
   * ERR_READ_SIDE_TAKEN.
   *
   * ```ts
   * dev.readBatches((slab, d, count) => {
   *   for (let i = 0; i < count; i++) handle(slab, d[2 * i], d[2 * i + 1]);
   * });
   * ```
   */
  readBatches(handler: PacketBatchHandler, options: ReadBatchesOptions = {}): this {
    if (typeof handler !== 'function') throw invalidType('handler', 'a function', handler);
    if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
    const reuseSlab = options.reuseSlab ?? false;
    if (typeof reuseSlab !== 'boolean') throw invalidType('options.reuseSlab', 'a boolean', reuseSlab);
    this.#assertOpen('readBatches()');
    const r = this.readable;
    if (!this.#batchMode && (this.#reading || r.readableFlowing !== null || r.readableDidRead || r.destroyed)) {
      throw readSideTaken('readBatches()', 'readable');
    }
    this.#batchMode = true;
    this.#batchHandler = handler;
    this.#handle.setSlabReuse(reuseSlab);
    this.#reading = true;
    this.#handle.startReading();
    return this;
  }

  /** Stops the batches readBatches() started (packets queue in the kernel, then drop); readBatches() resumes. */
  pauseBatches(): this {
    if (this.#batchMode && this.#reading) {
      this.#reading = false;
      this.#handle.stopReading();
    }
    return this;
  }

  /**
   * Writes `count` packets given as [offset, length] pairs in `descriptors`
   * (the layout {@link readBatches} hands out) straight to the device, with
   * one crossing into native code per 256 and no object per packet, so a
   * forwarder passes a batch on without touching it. Synchronous: returns how
   * many packets were consumed (written, or refused by the kernel and emitted
   * as `drop`). Fewer than `count` means the device's queue was full (EAGAIN)
   * or the device closed: the rest were not written. It bypasses `writable`,
   * so packets still queued there may go out after these.
   *
   * ```ts
   * a.readBatches((slab, d, count) => { b.writePackets(slab, d, count); });
   * ```
   */
  writePackets(buffer: Uint8Array, descriptors: Uint32Array, count: number): number {
    if (!(buffer instanceof Uint8Array)) throw invalidType('buffer', 'a Buffer or Uint8Array', buffer);
    if (!(descriptors instanceof Uint32Array)) throw invalidType('descriptors', 'a Uint32Array', descriptors);
    if (!Number.isInteger(count)) throw invalidType('count', 'an integer', count);
    if (count < 0 || count > descriptors.length >>> 1) throw outOfRange('count', `>= 0 and <= ${descriptors.length >>> 1}`, count);
    this.#assertOpen('writePackets()');
    const results = this.#writeResults;
    let start = 0;
    while (start < count && !this.#closed) {
      const tried = this.#handle.writeSlab(buffer, descriptors, start, Math.min(count - start, results.length));
      for (let i = 0; i < tried; i++) {
        if (results[i] >= 0) continue;
        const offset = descriptors[2 * (start + i)];
        const packet = buffer.subarray(offset, offset + descriptors[2 * (start + i) + 1]);
        if (this.#packetFailed(packet, -results[i], ignoreResult)) return start + i;
      }
      start += tried;
      if (tried === 0) break;
    }
    return start;
  }
  // ---- end of batch reading and writing ----------------------------------

  /** Writes one packet; calls back once it is written or dropped. */
  [kWrite](packet: Uint8Array, callback: (error?: Error | null) => void): void {
    const n = this.#closed ? -9 /* EBADF */ : this.#handle.write(packet);
    if (n >= 0) {
      // Called back after the caller's synchronous code: the writes it makes
      // meanwhile queue up and reach the kernel as one _writev burst.
      queueMicrotask(callback);
    } else if (n === -11 /* EAGAIN */) {
      this.#onWritable = () => {
        this.#onWritable = undefined;
        this[kWrite](packet, callback);
      };
      this.#handle.waitWritable();
    } else {
      this.#packetFailed(packet, -n, callback);
    }
  }

  /** Writes a burst of packets with one crossing into native code per 256. */
  [kWritev](packets: Uint8Array[], callback: (error?: Error | null) => void): void {
    let start = 0;
    const step = (): void => {
      const results = this.#writeResults;
      while (start < packets.length) {
        if (this.#closed) {
          callback(destroyedError());
          return;
        }
        const count = Math.min(packets.length - start, results.length);
        const tried = this.#handle.writeBatch(packets, start, count);
        for (let i = 0; i < tried; i++) {
          if (results[i] < 0 && this.#packetFailed(packets[start + i], -results[i], callback)) return;
        }
        start += tried;
        if (tried < count && !this.#closed) {
          this.#onWritable = () => {
            this.#onWritable = undefined;
            step();
          };
          this.#handle.waitWritable();
          return;
        }
      }
      callback();
    };
    step();
  }

  /**
   * A packet the kernel refused: one bad packet is a `drop`, and the stream
   * goes on; an fd that is gone is fatal. Returns true when it was fatal (the
   * callback has then been called).
   */
  #packetFailed(packet: Uint8Array, errno: number, callback: (error?: Error | null) => void): boolean {
    const error = new TunError(errno, 'write', { device: this.name });
    if (FATAL_WRITE_ERRORS.has(error.code)) {
      callback(error);
      this.destroy(error);
      return true;
    }
    // Not fatal: the stream's callback reports success so the next packet goes.
    if (this.listenerCount('drop') > 0) this.emit('drop', toBuffer(packet), error);
    return false;
  }
}

class PacketWritable extends Writable {
  readonly #device: TunDevice;

  constructor(device: TunDevice, highWaterMark: number) {
    super({ highWaterMark, decodeStrings: false });
    this.#device = device;
  }

  // Checked here, before anything is queued, so a bad packet throws at the
  // caller's line (as Node's streams do for a chunk of the wrong type).
  override write(chunk: unknown, encoding?: BufferEncoding | ((error: Error | null | undefined) => void), callback?: (error: Error | null | undefined) => void): boolean {
    if (!(chunk instanceof Uint8Array)) throw invalidType('packet', 'a Buffer or Uint8Array', chunk);
    if (chunk.byteLength === 0) throw outOfRange('packet.length', '>= 1 (an empty packet)', 0);
    if (chunk.byteLength > this.#device.maxPacketSize) {
      throw outOfRange('packet.length', `<= ${this.#device.maxPacketSize}`, chunk.byteLength);
    }
    if (typeof encoding === 'function') return super.write(chunk, encoding);
    return super.write(chunk, encoding as BufferEncoding, callback);
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#device[kWrite](chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Uint8Array }>, callback: (error?: Error | null) => void): void {
    const packets = new Array<Uint8Array>(chunks.length);
    for (let i = 0; i < chunks.length; i++) packets[i] = chunks[i].chunk;
    this.#device[kWritev](packets, callback);
  }
}

function ignoreResult(): void {
  // writePackets() reports a fatal error by its return value and the device's 'error'.
}

function readSideTaken(what: string, owner: string): StateError {
  return new StateError('ERR_READ_SIDE_TAKEN', `Cannot use ${what}: the device's packets are already read by ${owner}`);
}

function destroyedError(): StateError {
  return new StateError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed');
}

function toBuffer(packet: Uint8Array): Buffer {
  return Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
}

function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already gone
  }
}

interface ValidOptions {
  name: string;
  mode: TunMode;
  packetInfo: boolean;
  path: string;
  readableHighWaterMark: number;
  writableHighWaterMark: number;
  maxBatch: number;
}

/** Checks a device name the way the kernel's dev_valid_name() does, with clearer words. */
export function validateName(name: unknown, argument = 'name'): string {
  if (typeof name !== 'string') throw invalidType(argument, 'a string', name);
  if (name === '') return name;
  const bytes = Buffer.byteLength(name);
  if (bytes > native.constants.IFNAMSIZ - 1) {
    throw invalidValue(argument, name, `must be at most ${native.constants.IFNAMSIZ - 1} bytes long (it is ${bytes})`);
  }
  if (name === '.' || name === '..') throw invalidValue(argument, name, "must not be '.' or '..'");
  if (/[/:\s\0]/u.test(name)) throw invalidValue(argument, name, "must not contain '/', ':', NUL or whitespace");
  return name;
}

function integerOption(options: TunDeviceOptions, key: keyof TunDeviceOptions, fallback: number, min: number, max: number): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType(`options.${key}`, 'an integer', value);
  if (value < min || value > max) throw outOfRange(`options.${key}`, `>= ${min} and <= ${max}`, value);
  return value;
}

function validateOptions(options: TunDeviceOptions): ValidOptions {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options);
  const mode = options.mode ?? 'tun';
  if (mode !== 'tun' && mode !== 'tap') throw invalidValue('options.mode', mode, "must be 'tun' or 'tap'");
  const packetInfo = options.packetInfo ?? false;
  if (typeof packetInfo !== 'boolean') throw invalidType('options.packetInfo', 'a boolean', packetInfo);
  const path = options.path ?? DEFAULT_PATH;
  if (typeof path !== 'string' || path === '') throw invalidType('options.path', 'a non-empty string', path);
  return {
    name: validateName(options.name ?? '', 'options.name'),
    mode,
    packetInfo,
    path,
    readableHighWaterMark: integerOption(options, 'readableHighWaterMark', 64, 1, 1 << 20),
    writableHighWaterMark: integerOption(options, 'writableHighWaterMark', 256 * 1024, 1, 1 << 30),
    maxBatch: integerOption(options, 'maxBatch', 64, 1, 4096),
  };
}
