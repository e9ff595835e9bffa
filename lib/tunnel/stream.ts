// tunnel(): a device joined to a byte-stream transport (TCP, TLS, Unix, a
// WebSocket stream): a batch read goes out as one write; bytes that come in are
// split into packets and written in batches. Framing lives in ../packet/stream.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { invalidType, invalidValue } from '../internal/errors';
import type { TypedEmitter } from '../internal/typed-emitter';
import { validateBoolean, validateInteger, validateObject, validateOneOf } from '../internal/validators';
import { TunDevice } from '../tun-device';
import { FRAMING_MAX, framedLength, packPackets, splitIpStream, type Framing } from '../packet/stream';

/** 'toTransport': read from the device; 'toDevice': read from the transport. */
export type TunnelDirection = 'toTransport' | 'toDevice';

/**
 * Called once per batch in each direction before it is passed on. Packet i
 * is `buffer.subarray(descriptors[2 * i], descriptors[2 * i] + descriptors[2 * i + 1])`;
 * set `descriptors[2 * i + 1] = 0` to drop it (counted as `filtered`), or
 * rewrite its bytes in place (a shorter length is taken as given).
 */
export type TunnelBatchHook = (buffer: Buffer, descriptors: Uint32Array, count: number, direction: TunnelDirection) => void;

/** Options of {@link tunnel}. */
export interface TunnelOptions {
  /**
   * How packets travel in the stream. 'ip' (default): raw IP packets back to
   * back, each one's length taken from its header; a TUN device without
   * packetInfo or offload only. 'length16' / 'length32': each packet behind
   * its big-endian length.
   */
  framing?: Framing;
  /** See {@link TunnelBatchHook}. */
  onBatch?: TunnelBatchHook;
  /**
   * When the device's fd takes no more (writePackets() consumed fewer than
   * asked): 'pause' (default) pauses the transport until the fd is writable;
   * 'drop' drops the rest of that run of packets (counted as `deviceFull`).
   */
  onDeviceFull?: 'pause' | 'drop';
  /**
   * The largest packet either way: bigger ones from the device are dropped
   * (`tooLarge`), and from the transport they are garbage ('ip') or a
   * framing error. Default and maximum: what the device and the framing take.
   */
  maxPacketSize?: number;
  /** Close the device when the tunnel closes. Default false. */
  closeDevice?: boolean;
}

/** Packets and bytes (of packets, framing not included) one way. */
export interface TunnelFlow {
  packets: number;
  bytes: number;
}

/** What a tunnel has carried and dropped so far. */
export interface TunnelStats {
  toTransport: TunnelFlow;
  toDevice: TunnelFlow;
  dropped: {
    /** Dropped by the onBatch hook (length set to 0). */
    filtered: number;
    /** Read from the device, longer than maxPacketSize (or than the framing carries). */
    tooLarge: number;
    /** From the transport while the device's fd was full, with onDeviceFull 'drop'. */
    deviceFull: number;
    /** Bytes from the transport skipped as garbage ('ip' framing). */
    garbageBytes: number;
  };
  /** Runs of garbage skipped before a plausible header was found again ('ip' framing). */
  resyncs: number;
}

/** Events of a {@link Tunnel}. */
export type TunnelEvents = {
  /** The transport or the device failed, or the stream broke its framing; 'close' follows. */
  error: (error: Error) => void;
  /** The tunnel is done: the transport has closed and the device is no longer read. */
  close: () => void;
};

/** A length prefix of 0 or over the limit: a length-framed stream cannot be followed past it. */
export class TunnelFramingError extends Error {
  readonly code = 'ERR_TUNNEL_FRAMING';
  constructor(length: number, max: number) {
    super(`A packet length of ${length} in the transport's stream is outside 1 to ${max}: the framing is lost`);
    this.name = 'TunnelFramingError';
  }
}

type TunnelState = 'open' | 'closing' | 'closed';

/** Packets split out of the transport's bytes per writePackets() call. */
const SPLIT_BATCH = 256;

/**
 * A device joined to a stream; made by {@link tunnel}.
 *
 * What it holds at most (the memory bound): toward the transport, the
 * transport's own buffer up to its writableHighWaterMark plus one batch (the
 * device's maxBatch packets and their framing), as reading stops at the
 * first write that returns false; toward the device, one chunk from the
 * transport plus the start of an incomplete packet (under maxPacketSize +
 * prefix), as the device's writes are synchronous. Past that, the kernel's
 * ring drops (the link's TX drops), or the transport's flow control pushes back.
 */
export class Tunnel extends (EventEmitter as new () => TypedEmitter<TunnelEvents>) {
  readonly device: TunDevice;
  readonly transport: Duplex;
  readonly framing: Framing;
  readonly maxPacketSize: number;
  #state: TunnelState = 'open';
  readonly #hook: TunnelBatchHook | undefined;
  readonly #pauseWhenFull: boolean;
  readonly #closeDevice: boolean;
  readonly #descriptors = new Uint32Array(2 * SPLIT_BATCH);
  /** Holds the start of a packet cut by the end of a chunk until the next one completes it; reused. */
  #cut: Buffer | undefined;
  /** Bytes of #cut in use. */
  #cutLength = 0;
  /** Bytes from the transport not yet written while the device's fd is full. */
  #waitingBytes = 0;
  /** Bytes from the transport that follow the waiting ones, written once those are in. */
  #queued: Buffer | undefined;
  /** The transport's bytes so far ended in garbage ('ip' framing). */
  #inGarbage = false;
  readonly #stats: TunnelStats = {
    toTransport: { packets: 0, bytes: 0 },
    toDevice: { packets: 0, bytes: 0 },
    dropped: { filtered: 0, tooLarge: 0, deviceFull: 0, garbageBytes: 0 },
    resyncs: 0,
  };
  readonly #onDrain = (): void => {
    if (this.#state === 'open' && !this.device.closed) this.device.resumeBatches();
  };
  readonly #onData = (chunk: Buffer | string): void => this.#fromTransport(chunk);
  readonly #onEnd = (): void => void this.close();
  readonly #onTransportError = (error: Error): void => this.#fail(error);
  readonly #onTransportClose = (): void => this.#finish();
  readonly #onDeviceClose = (): void => void this.close();
  readonly #onDeviceError = (error: Error): void => this.#fail(error);
  readonly #closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  /** @internal Use {@link tunnel}. */
  constructor(device: TunDevice, transport: Duplex, options: TunnelOptions) {
    super();
    this.device = device;
    this.transport = transport;
    this.framing = validateOneOf<Framing>(options.framing ?? 'ip', 'options.framing', ['ip', 'length16', 'length32']);
    if (this.framing === 'ip' && (device.mode !== 'tun' || device.packetInfo || device.offload !== null)) {
      throw invalidValue('options.framing', 'ip', 'needs a TUN device without packetInfo or offload');
    }
    const limit = Math.min(device.maxPacketSize, FRAMING_MAX[this.framing]);
    this.maxPacketSize =
      options.maxPacketSize === undefined ? limit : validateInteger(options.maxPacketSize, 'options.maxPacketSize', 1, limit);
    if (options.onBatch !== undefined && typeof options.onBatch !== 'function')
      throw invalidType('options.onBatch', 'a function', options.onBatch);
    this.#hook = options.onBatch;
    this.#pauseWhenFull =
      validateOneOf(options.onDeviceFull ?? 'pause', 'options.onDeviceFull', ['pause', 'drop'] as const) === 'pause';
    this.#closeDevice = validateBoolean(options.closeDevice, 'options.closeDevice', false);
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
    // First, as it throws for a closed device or a read side taken by `readable`.
    // The tunnel copies each batch into one write, so the slab can be reused.
    device.readBatches((slab, d, count) => this.#fromDevice(slab, d, count), { reuseSlab: true });
    transport.on('data', this.#onData);
    transport.on('end', this.#onEnd);
    transport.on('error', this.#onTransportError);
    transport.on('close', this.#onTransportClose);
    transport.on('drain', this.#onDrain);
    device.on('close', this.#onDeviceClose);
    device.on('error', this.#onDeviceError);
  }

  /** Counters so far (a copy). */
  get stats(): TunnelStats {
    const s = this.#stats;
    return { ...s, toTransport: { ...s.toTransport }, toDevice: { ...s.toDevice }, dropped: { ...s.dropped } };
  }

  /** Bytes the tunnel itself holds now: an incomplete packet, a run waiting for the device's fd and what came after it. */
  get heldBytes(): number {
    return this.#cutLength + this.#waitingBytes + (this.#queued?.length ?? 0);
  }

  /** Whether close() or destroy() was called, or either side ended. */
  get closed(): boolean {
    return this.#state !== 'open';
  }

  /**
   * Stops reading the device and ends the transport; resolves on 'close',
   * once the transport has closed (the peer ended too, or destroy()). The
   * device's batches stay paused: readBatches() with a new handler reads again.
   */
  close(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'closing';
      this.device.pauseBatches();
      if (this.transport.destroyed || this.transport.closed) this.#finish();
      else this.transport.end();
    }
    return this.#closed;
  }

  /** Destroys the transport; with `error`, emits it as 'error' first. */
  destroy(error?: Error): this {
    if (this.#state === 'closed') return this;
    this.#state = 'closing';
    this.device.pauseBatches();
    if (error !== undefined) this.emit('error', error);
    this.transport.destroy();
    if (this.transport.closed) this.#finish();
    return this;
  }

  #fail(error: Error): void {
    if (this.#state !== 'closed') this.destroy(error);
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const { transport, device } = this;
    transport.off('data', this.#onData);
    transport.off('end', this.#onEnd);
    transport.off('drain', this.#onDrain);
    transport.off('close', this.#onTransportClose);
    // A late error (ECONNRESET after the end) would otherwise crash a process
    // that left the transport to the tunnel; it changes nothing now.
    transport.off('error', this.#onTransportError);
    transport.on('error', ignoreError);
    device.off('close', this.#onDeviceClose);
    device.off('error', this.#onDeviceError);
    if (!device.closed) {
      device.pauseBatches();
      if (this.#closeDevice) void device.close();
    }
    this.#cut = undefined;
    this.#cutLength = 0;
    this.#queued = undefined;
    process.nextTick(() => {
      this.emit('close');
      this.#markClosed();
    });
  }

  /** One batch from the device: one write to the transport; false (pause) when the transport is full. */
  #fromDevice(slab: Buffer, d: Uint32Array, count: number): boolean {
    if (this.#state !== 'open' || !this.#runHook(slab, d, count, 'toTransport')) return false;
    const flow = this.#stats.toTransport;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const length = d[2 * i + 1];
      if (length === 0) this.#stats.dropped.filtered++;
      else if (length > this.maxPacketSize) {
        this.#stats.dropped.tooLarge++;
        d[2 * i + 1] = 0;
      } else {
        kept++;
        flow.bytes += length;
      }
    }
    if (kept === 0) return true;
    flow.packets += kept;
    // The stream's own backpressure: stop reading the device (the kernel's
    // ring fills, then drops) until the transport drains.
    return this.transport.write(packPackets(slab, d, count, undefined, { framing: this.framing }));
  }

  #fromTransport(chunk: Buffer | string): void {
    if (this.#state !== 'open') return;
    if (typeof chunk === 'string') {
      this.#fail(invalidType('transport data', 'bytes (no setEncoding on the transport)', chunk));
      return;
    }
    if (this.#waitingBytes > 0) {
      this.#queued = this.#queued === undefined ? chunk : Buffer.concat([this.#queued, chunk]);
      return;
    }
    const held = this.#cutLength;
    if (held === 0) return this.#writeFrom(chunk, 0);
    const cut = this.#cut!;
    // Only the cut packet is copied, once: copying the whole chunk behind it
    // would copy every byte of the stream once more.
    const total = framedLength(cut, 0, held, this.framing, this.maxPacketSize);
    if (total <= 0) {
      this.#cutLength = 0;
      return this.#writeFrom(Buffer.concat([cut.subarray(0, held), chunk]), 0);
    }
    const take = Math.min(total - held, chunk.length);
    chunk.copy(cut, held, 0, take);
    this.#cutLength = held + take;
    if (held + take < total) return;
    this.#cutLength = 0;
    this.#writeFrom(cut.subarray(0, total), 0);
    // A run left waiting for the device's fd keeps that buffer: the next cut gets a new one.
    if (this.#waitingBytes > 0) this.#cut = undefined;
    if (this.#state !== 'open' || take === chunk.length) return;
    if (this.#waitingBytes > 0) this.#queued = chunk.subarray(take);
    else this.#writeFrom(chunk, take);
  }

  /** Splits and writes `bytes` from `start` on; pauses the transport if the device's fd fills. */
  #writeFrom(bytes: Buffer, start: number): void {
    const d = this.#descriptors;
    while (this.#state === 'open' && !this.device.closed) {
      const split = splitIpStream(bytes, d, start, bytes.length - start, {
        framing: this.framing,
        maxPacketSize: this.maxPacketSize,
        resync: true,
        inGarbage: this.#inGarbage,
      });
      this.#inGarbage = split.inGarbage;
      this.#stats.dropped.garbageBytes += split.garbageBytes;
      this.#stats.resyncs += split.resyncs;
      if (split.badLength >= 0) {
        this.#fail(new TunnelFramingError(split.badLength, this.maxPacketSize));
        return;
      }
      start += split.bytes;
      if (split.packets === 0) break;
      const count = this.#filter(bytes, d, split.packets);
      if (count > 0 && !this.#writeRun(bytes, d, count, start)) return;
      if (split.packets < SPLIT_BATCH) break;
    }
    // An incomplete packet is copied: a view would keep the whole chunk alive.
    if (start < bytes.length && this.#state === 'open') this.#keepCut(bytes, start);
  }

  #keepCut(bytes: Buffer, start: number): void {
    const n = bytes.length - start;
    if (this.#cut === undefined || this.#cut.length < n) this.#cut = Buffer.allocUnsafe(Math.max(n, this.maxPacketSize + 4));
    bytes.copy(this.#cut, 0, start);
    this.#cutLength = n;
  }

  /** False when the tunnel is no longer open after the hook (it threw: the tunnel is destroyed with its error). */
  #runHook(buffer: Buffer, d: Uint32Array, count: number, direction: TunnelDirection): boolean {
    try {
      this.#hook?.(buffer, d, count, direction);
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#state === 'open';
  }

  /** Runs the hook on packets from the transport and packs the kept ones to the front of `d`. */
  #filter(bytes: Buffer, d: Uint32Array, count: number): number {
    if (!this.#runHook(bytes, d, count, 'toDevice')) return 0;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      if (d[2 * i + 1] === 0) {
        this.#stats.dropped.filtered++;
        continue;
      }
      d[2 * kept] = d[2 * i];
      d[2 * kept + 1] = d[2 * i + 1];
      kept++;
    }
    return kept;
  }

  /**
   * Writes `count` packets to the device; false when the rest waits for the
   * fd (the transport paused, and #writeFrom resumes at `next` later).
   */
  #writeRun(bytes: Buffer, d: Uint32Array, count: number, next: number): boolean {
    let written: number;
    try {
      written = this.device.writePackets(bytes, d, count);
    } catch (error) {
      // Only a hook that set a length past the buffer or the device's maximum gets here.
      this.#fail(error as Error);
      return false;
    }
    this.#count(d, 0, written);
    if (written === count || this.device.closed) return true;
    if (!this.#pauseWhenFull) {
      this.#stats.dropped.deviceFull += count - written;
      return true;
    }
    const rest = d.slice(2 * written, 2 * count);
    this.#waitingBytes = bytes.length - d[2 * written];
    this.transport.pause();
    this.device.whenWritable().then(
      () => {
        this.#waitingBytes = 0;
        if (this.#state !== 'open') return;
        if (this.#writeRun(bytes, rest, rest.length >>> 1, next)) {
          this.#writeFrom(bytes, next);
          const queued = this.#queued;
          this.#queued = undefined;
          if (queued !== undefined && this.#state === 'open') this.#fromTransport(queued);
          if (this.#waitingBytes === 0 && this.#state === 'open') this.transport.resume();
        }
      },
      () => undefined, // the device closed: its 'close' closes the tunnel
    );
    return false;
  }

  #count(d: Uint32Array, from: number, to: number): void {
    const flow = this.#stats.toDevice;
    flow.packets += to - from;
    for (let i = from; i < to; i++) flow.bytes += d[2 * i + 1];
  }
}

function ignoreError(): void {}

/**
 * Joins `device` to `transport`, any Duplex carrying bytes (a net.Socket, a
 * TLSSocket, a Unix socket, a WebSocket stream). Each batch read from the
 * device goes out as one write; bytes from the transport are split into
 * packets and written to the device in batches.
 *
 * Backpressure: when a write to the transport returns false, the device is
 * no longer read until 'drain' (the kernel's ring, txqueuelen deep, then
 * drops, counted as the link's TX drops). When the device's fd is full,
 * `onDeviceFull` pauses the transport or drops. Closing: the transport's end
 * or close closes the tunnel (the device stays open unless `closeDevice`);
 * the device's close ends the transport. Errors of either side are the
 * tunnel's 'error', followed by 'close'.
 *
 * 'ip' framing resyncs on garbage: it skips one byte at a time until a
 * plausible header (an IPv4 header whose checksum verifies, or an IPv6 header
 * with a non-zero payload length; in both a length within maxPacketSize).
 * IPv6 has no header checksum, so garbage can pass for an IPv6 header: what
 * follows is then misread until the next resync (the kernel refuses or drops it).
 *
 * ```ts
 * const t = tunnel(dev, tls.connect({ host, port }), { framing: 'ip' });
 * t.on('close', () => console.log(t.stats));
 * ```
 */
export function tunnel(device: TunDevice, transport: Duplex, options: TunnelOptions = {}): Tunnel {
  if (!(device instanceof TunDevice)) throw invalidType('device', 'a TunDevice', device);
  if (!(transport instanceof Duplex)) throw invalidType('transport', 'a stream.Duplex', transport);
  validateObject(options, 'options');
  return new Tunnel(device, transport, options);
}
