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
import type { AddressInfo, LinkInfo } from './netlink/codec';
import { LinkMonitor } from './netlink/device-link';
import { kLinkNames, openNetlink, type AddAddressOptions, type Netlink, type RouteOptions } from './netlink/netlink';

/**
 * 'tun' carries IP packets; 'tap' carries Ethernet frames.
 *
 * ```ts
 * const tap = await TunDevice.open({ mode: 'tap' }); // reads and writes Ethernet frames
 * ```
 */
export type TunMode = 'tun' | 'tap';

/**
 * How {@link TunDevice.open} opens a device.
 *
 * ```ts
 * const dev = await TunDevice.open({ name: 'vpn%d', mode: 'tun', packetInfo: false });
 * ```
 */
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

/**
 * The events a TunDevice emits.
 *
 * ```ts
 * dev.on('drop', (packet, error) => console.warn(`dropped ${packet.length} bytes: ${error.code}`));
 * dev.on('down', (link) => console.log(`${link.name} went down`));
 * ```
 */
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
  /**
   * The link changed (flags, MTU, carrier, name), whoever changed it. Link
   * events start with the first listener for one of them.
   */
  linkChange: (link: LinkInfo) => void;
  /** The link was brought up (IFF_UP), by this process or another. */
  up: (link: LinkInfo) => void;
  /** The link was taken down. */
  down: (link: LinkInfo) => void;
  /** An address was added to the device. */
  addressAdded: (address: AddressInfo) => void;
  /** An address was removed from the device. */
  addressRemoved: (address: AddressInfo) => void;
};

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
  /** 'tun' (IP packets) or 'tap' (Ethernet frames). */
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
    // Link events need a netlink socket: open it only for someone who listens.
    (this as unknown as EventEmitter).on('newListener', (event: string | symbol) => this.#linkEventListenerAdded(event));
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

  /** `await using dev = await TunDevice.open()` closes the device at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #teardown(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#onWritable = undefined;
    this.#closeNetlink();
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
    const d = this.#descriptors;
    const r = this.readable;
    let more = true;
    for (let i = 0; i < count; i++) {
      const offset = d[2 * i];
      more = r.push(slab.subarray(offset, offset + d[2 * i + 1]));
    }
    if (!more) this[kStopReading]();
  }

  /** @internal Called by `readable` when it wants packets. */
  [kStartReading](): void {
    if (!this.#reading && !this.#closed) {
      this.#reading = true;
      this.#handle.startReading();
    }
  }

  /** @internal Called when `readable` is full or destroyed. */
  [kStopReading](): void {
    if (this.#reading) {
      this.#reading = false;
      this.#handle.stopReading();
    }
  }

  /** Writes one packet; calls back once it is written or dropped. */
  [kWrite](packet: Uint8Array, callback: (error?: Error | null) => void): void {
    const n = this.#closed ? -9 /* EBADF */ : this.#handle.write(packet);
    if (n >= 0) {
      callback();
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

  // ---- rtnetlink helpers and link-state events ----------------------------
  // Thin delegations to one Netlink owned by the device (opened on first use,
  // closed in #teardown), always by index, so a rename does not matter. Async,
  // so a closed device rejects rather than throws.

  #netlink: Netlink | undefined;
  #linkMonitor: LinkMonitor | undefined;

  /** Adds an address ('10.0.0.1/24', 'fd00::1/64'); see {@link Netlink.addAddress}. */
  async addAddress(cidr: string, options?: AddAddressOptions): Promise<void> {
    return this.#nl('addAddress').addAddress(this.index, cidr, options);
  }

  /** Removes an address (prefix length included). */
  async removeAddress(cidr: string): Promise<void> {
    return this.#nl('removeAddress').removeAddress(this.index, cidr);
  }

  /** The device's addresses. */
  async addresses(): Promise<AddressInfo[]> {
    return this.#nl('addresses').addresses(this.index);
  }

  /** Sets the MTU (68 to 65535). */
  async setMtu(mtu: number): Promise<void> {
    return this.#nl('setMtu').setMtu(this.index, mtu);
  }

  /** Brings the link up. `await dev.up()`, then packets can flow. */
  async up(): Promise<void> {
    return this.#nl('up').setUp(this.index);
  }

  /** Takes the link down. */
  async down(): Promise<void> {
    return this.#nl('down').setDown(this.index);
  }

  /** Adds a route through this device: `await dev.addRoute('10.33.0.0/16')`. */
  async addRoute(cidr: string, options: Omit<RouteOptions, 'device'> = {}): Promise<void> {
    return this.#nl('addRoute').addRoute(cidr, { ...options, device: this.index });
  }

  /** Removes a route through this device. */
  async removeRoute(cidr: string, options: Omit<RouteOptions, 'device'> = {}): Promise<void> {
    return this.#nl('removeRoute').removeRoute(cidr, { ...options, device: this.index });
  }

  /** The link as the kernel has it now, counters included. */
  async link(): Promise<LinkInfo> {
    return this.#nl('link').link(this.index);
  }

  /** Sets the hardware address (TAP devices; TUN devices have none). */
  async setMacAddress(mac: string): Promise<void> {
    return this.#nl('setMacAddress').setMacAddress(this.index, mac);
  }

  /** Sets the transmit queue length (the TUN ring, 500 by default). */
  async setTxQueueLength(length: number): Promise<void> {
    return this.#nl('setTxQueueLength').setTxQueueLength(this.index, length);
  }

  #nl(what: string): Netlink {
    this.#assertOpen(what);
    if (this.#netlink === undefined) {
      this.#netlink = openNetlink();
      this.#netlink[kLinkNames].set(this.index, this.name);
    }
    return this.#netlink;
  }

  #linkEventListenerAdded(event: string | symbol): void {
    if (this.#closed || this.#linkMonitor !== undefined || !LINK_EVENTS.has(event)) return;
    this.#linkMonitor = new LinkMonitor(this.index, {
      linkChange: (link) => this.emit('linkChange', link),
      up: (link) => this.emit('up', link),
      down: (link) => this.emit('down', link),
      addressAdded: (address) => this.emit('addressAdded', address),
      addressRemoved: (address) => this.emit('addressRemoved', address),
    });
  }

  #closeNetlink(): void {
    this.#linkMonitor?.close();
    this.#linkMonitor = undefined;
    this.#netlink?.close();
    this.#netlink = undefined;
  }
}

const LINK_EVENTS = new Set<string | symbol>(['linkChange', 'up', 'down', 'addressAdded', 'addressRemoved']);

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

/**
 * Checks a device name the way the kernel's dev_valid_name() does, with clearer words.
 *
 * ```ts
 * validateName('tun0'); // 'tun0'
 * validateName('a name with spaces'); // throws ERR_INVALID_ARG_VALUE
 * ```
 */
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
