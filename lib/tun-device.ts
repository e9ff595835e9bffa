// The public TunDevice: one open queue of a TUN/TAP device, and the table of
// contents of its parts: the fd, the lifecycle and the ioctls live here; the
// read and write sides, options and opening in lib/device/, links in lib/netlink/.
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { abortError, abortable } from './internal/abort';
import { EOPNOTSUPP } from './internal/errno';
import { TunError, deviceClosed, fromNative } from './internal/errors';
import { native, type NativeNetnsFile, type NativeTunHandle } from './internal/native';
import type { TypedEmitter } from './internal/typed-emitter';
import { validateAbortSignal, validateBoolean, validateObject } from './internal/validators';
import type { TunDeviceEvents } from './device/events';
import { checkId, checkSendBufferSize, decodeFlags, type TunFlags } from './device/kernel';
import type { EnabledOffloads } from './device/offload';
import { adoptQueue, closeQueue, deleteDevice, openQueue, type OpenedQueue } from './device/open';
import {
  maxPacketSize,
  validateOptions,
  type PacketBatchHandler,
  type ReadBatchesOptions,
  type TunCreateOptions,
  type TunDeleteOptions,
  type TunDeviceOptions,
  type TunFromFdOptions,
  type TunMode,
  type ValidOptions,
} from './device/options';
import type { PacketReadable } from './device/packet-readable';
import { DeviceLink } from './device/link';
import { DeviceReader } from './device/read-side';
import { DeviceCounters, type TunDeviceStats } from './device/stats';
import type { DeviceCore } from './device/symbols';
import { DeviceWriter } from './device/write-side';
import type { AddressInfo, LinkInfo } from './netlink/decode';
import { openNetnsFile } from './netlink/netns';
import type { AddAddressOptions, RequestOptions, RouteOptions } from './netlink/requests';
import { encodeFilter, type BpfInstruction } from './packet/filter';

function ignoreResult(): void {}

/** 'closing' while close() flushes `writable` (the fd still works); 'closed' once the fd is being released. */
type Lifecycle = 'open' | 'closing' | 'closed';

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
  /** The interface index in the device's namespace (stays right across renames); 0 for a fromFd() device not in ours. */
  readonly index: number;
  /** Whether packets carry the 4-byte packet information header. */
  readonly packetInfo: boolean;
  /** Packets read from the device, one per chunk (a Buffer), never merged or split. */
  readonly readable: PacketReadable;
  /** Packets to write to the device, one per write (a Buffer or Uint8Array). */
  readonly writable: Writable;
  /** The largest packet `writable` accepts, headers included. */
  readonly maxPacketSize: number;
  /** The device's offloads (for all its queues), or null when packets carry no virtio_net_hdr. */
  readonly offload: EnabledOffloads | null;
  /** Whether this is one queue of a multi-queue device. */
  readonly multiQueue: boolean;
  /** The network namespace file the device was opened in, or undefined for ours. */
  readonly netns: string | undefined;

  #handle: NativeTunHandle;
  readonly #writer: DeviceWriter;
  readonly #reader: DeviceReader;
  readonly #counters = new DeviceCounters();
  readonly #link: DeviceLink;
  #state: Lifecycle = 'open';
  /** Whether the device holds the event loop open (ref()/unref()). */
  #refed = true;
  #markReleased: () => void = ignoreResult;
  /** Settles when the fd is released: what close() returns, however the device closes. */
  readonly #released = new Promise<void>((resolve) => {
    this.#markReleased = resolve;
  });
  /** The namespace the device was opened in, held from open to close; undefined for ours. */
  #netnsFile: NativeNetnsFile | undefined;

  /** Opens a device; see {@link TunDeviceOptions}. Needs CAP_NET_ADMIN unless the device is persistent and owned by this user. */
  static async open(options: TunDeviceOptions = {}): Promise<TunDevice> {
    const opts = validateOptions(options);
    const signal = options.signal;
    if (signal !== undefined) validateAbortSignal(signal, 'options.signal');
    if (signal?.aborted) throw abortError(signal);
    // Bound once, here: the device's helpers act on this namespace even
    // after its path is deleted and made again for another one.
    const netns = openNetnsFile(opts.kernel.netns);
    // Persistence comes last: until then, a failed or aborted open closes
    // the fd, and the kernel removes a device this open made.
    const opening = openQueue({ ...opts, kernel: { ...opts.kernel, persist: undefined } }, netns);
    let dev: TunDevice;
    try {
      const opened = signal === undefined ? await opening : await abortable(opening, signal, (late) => void closeQueue(late.fd));
      dev = new TunDevice(opts, opened, netns);
    } catch (error) {
      // An abort settles before the thread pool is done with the namespace
      // fd: close it only then, or its number could name another file there.
      const release = (): void => netns?.close();
      opening.then(release, release);
      throw error;
    }
    if (opts.kernel.persist !== undefined) {
      try {
        await dev.setPersist(opts.kernel.persist);
      } catch (error) {
        await dev.close();
        throw error;
      }
    }
    return dev;
  }

  /**
   * Creates a persistent device with no fd attached; it stays until {@link TunDevice.delete}.
   * With `owner` or `group`, they can later open it without CAP_NET_ADMIN. Resolves to its name.
   *
   * ```ts
   * const name = await TunDevice.create({ name: 'vpn0', owner: 1000 }); // as root; then uid 1000 may open it
   * ```
   */
  static async create(options: TunCreateOptions = {}): Promise<string> {
    validateObject(options, 'options');
    const opts = validateOptions({ ...options, persist: true });
    const netns = openNetnsFile(opts.kernel.netns);
    try {
      const opened = await openQueue(opts, netns);
      await closeQueue(opened.fd);
      return opened.name;
    } finally {
      netns?.close();
    }
  }

  /**
   * Deletes a TUN/TAP device as `ip link del` does, persistent or not, even with queues open
   * (their reads end, writes fail with EBADFD or EIO). ENODEV: no such link; EINVAL: not a
   * TUN/TAP device of the `mode` or `multiQueue` given. Needs CAP_NET_ADMIN, or to be the owner
   * of a persistent device no queue holds.
   */
  static async delete(name: string, options: TunDeleteOptions = {}): Promise<void> {
    return deleteDevice(name, options);
  }

  /**
   * Wraps and owns a TUN/TAP queue fd opened elsewhere (a privileged parent's spawn stdio or
   * SCM_RIGHTS), made non-blocking (for every holder) and close-on-exec. Say `packetInfo: true`
   * if it was opened with it: the kernel cannot tell.
   *
   * ```ts
   * const dev = await TunDevice.fromFd(3); // spawn(..., { stdio: [0, 1, 2, tunFd] })
   * ```
   */
  static async fromFd(fd: number, options: TunFromFdOptions = {}): Promise<TunDevice> {
    const { opts, opened, netns } = await adoptQueue(fd, options);
    return new TunDevice(opts, opened, netns);
  }

  private constructor(opts: ValidOptions, opened: OpenedQueue, netns: NativeNetnsFile | undefined) {
    super();
    this.#netnsFile = netns;
    this.name = opened.name;
    this.mode = opts.mode;
    this.multiQueue = opts.kernel.multiQueue;
    this.netns = opts.kernel.netns === '' ? undefined : opts.kernel.netns;
    this.packetInfo = opts.packetInfo;
    this.offload = opened.offload;
    this.maxPacketSize = maxPacketSize(opts, opened.offload?.headerSize ?? 0);
    const writeResults = new Int32Array(256);
    this.index = opened.index;
    try {
      // From this call on the handle owns the fd, and closes it if it fails.
      this.#handle = new native.TunHandle(
        opened.fd,
        // Room for the largest packet the kernel could hand us, so no read is truncated.
        this.maxPacketSize + 64,
        opts.maxBatch,
        writeResults,
        (slab, descriptors, count, bytes) => this.#reader.onRead(slab, descriptors, count, bytes),
        () => this.#writer.writableAgain(),
        (errno, syscall) => this.destroy(new TunError(errno, syscall, { device: this.name })),
        opts.readerThread !== undefined,
        opts.readerThread?.cpu ?? -1,
      );
    } catch (error) {
      throw fromNative(error, { device: this.name });
    }
    const core = this.#core();
    DeviceCounters.of.set(this, this.#counters);
    this.#reader = new DeviceReader(core, this.#handle, this.#counters, opts.maxBatch, opts.readableHighWaterMark);
    this.readable = this.#reader.readable;
    this.#writer = new DeviceWriter(core, this.#handle, writeResults, this.#counters, opts.writableHighWaterMark);
    this.writable = this.#writer.writable;
    this.#link = new DeviceLink(core, this.index, netns, {
      linkChange: (link) => this.emit('linkChange', link),
      up: (link) => this.emit('up', link),
      down: (link) => this.emit('down', link),
      addressAdded: (address) => this.emit('addressAdded', address),
      addressRemoved: (address) => this.emit('addressRemoved', address),
    });
    // Link events need a netlink socket: open it only for someone who
    // listens, and close it when the last listener goes.
    const emitter = this as unknown as EventEmitter;
    emitter.on('newListener', (event: string | symbol) => this.#link.listenerAdded(event, this.#refed));
    emitter.on('removeListener', (event: string | symbol) =>
      this.#link.listenerRemoved(event, (name) => this.listenerCount(name as keyof TunDeviceEvents) > 0),
    );
  }

  /** The file descriptor of the queue (-1 once it is being released). For inspection, not for reading. */
  get fd(): number {
    return this.#isClosed() ? -1 : this.#handle.fd;
  }

  /** Whether close() or destroy() has run. */
  get closed(): boolean {
    return this.#state !== 'open';
  }

  /** What the device has read, written and dropped so far: a snapshot, no syscall. */
  get stats(): TunDeviceStats {
    return this.#counters.snapshot();
  }

  /**
   * Reads packets in batches instead of through `readable`: `handler` gets up to `maxBatch`
   * packets per wake-up; packet i is `slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1])`, and `d`
   * is reused by the next batch. With `{ reuseSlab: true }` each batch overwrites the last, so
   * views are valid only until the handler returns. A handler returning `false` pauses until
   * resumeBatches() (the kernel queues, then drops). Calling it again replaces the handler; from
   * the first call, `readable` is taken (ERR_READ_SIDE_TAKEN), and a read-from `readable` makes it throw.
   *
   * ```ts
   * dev.readBatches((slab, d, count) => {
   *   for (let i = 0; i < count; i++) handle(slab, d[2 * i], d[2 * i + 1]);
   * });
   * ```
   */
  readBatches(handler: PacketBatchHandler, options: ReadBatchesOptions = {}): this {
    this.#reader.readBatches(handler, options);
    return this;
  }

  /** Stops the batches (the kernel queues txqueuelen packets, then drops) until resumeBatches(). */
  pauseBatches(): this {
    this.#reader.pauseBatches();
    return this;
  }

  /** Resumes paused batches with the same handler; the packets queued meanwhile come first. */
  resumeBatches(): this {
    this.#reader.resumeBatches();
    return this;
  }

  /**
   * Writes `count` packets given as [offset, length] pairs (the layout of {@link readBatches})
   * straight to the device, bypassing `writable`. Returns how many were consumed (written, or a
   * `drop`); fewer means the queue was full or the device closed: `await whenWritable()` and pass
   * the rest again. It holds nothing once it returns.
   *
   * ```ts
   * a.readBatches((slab, d, count) => { b.writePackets(slab, d, count); });
   * ```
   */
  writePackets(buffer: Uint8Array, descriptors: Uint32Array, count: number): number {
    return this.#writer.writePackets(buffer, descriptors, count);
  }

  /**
   * Resolves when the fd takes writes again after writePackets() stopped short (EAGAIN); on a
   * down link that means waiting for `up`. Rejects with ERR_DEVICE_CLOSED if the device closes first.
   */
  whenWritable(): Promise<void> {
    return this.#writer.whenWritable();
  }

  // ---- rtnetlink helpers: by index, so a rename does not matter; async, so a
  // closed device rejects rather than throws.

  /** Adds an address ('10.0.0.1/24', 'fd00::1/64'); see {@link Netlink.addAddress}. */
  async addAddress(cidr: string, options?: AddAddressOptions): Promise<void> {
    return this.#link.netlink('addAddress').addAddress(this.index, cidr, options);
  }

  /** Removes an address (prefix length included). */
  async removeAddress(cidr: string, options?: RequestOptions): Promise<void> {
    return this.#link.netlink('removeAddress').removeAddress(this.index, cidr, options);
  }

  /** The device's addresses. */
  async addresses(options?: RequestOptions): Promise<AddressInfo[]> {
    return this.#link.netlink('addresses').addresses(this.index, options);
  }

  /** Brings the link up. `await dev.up()`, then packets can flow. */
  async up(options?: RequestOptions): Promise<void> {
    return this.#link.netlink('up').setUp(this.index, options);
  }

  /** Takes the link down. */
  async down(options?: RequestOptions): Promise<void> {
    return this.#link.netlink('down').setDown(this.index, options);
  }

  /** The device's MTU, as the kernel has it now (asked by index, so a rename does not matter). */
  async getMtu(): Promise<number> {
    return (await this.#link.netlink('getMtu()').link(this.index)).mtu;
  }

  /** Sets the MTU (68 to 65535). */
  async setMtu(mtu: number, options?: RequestOptions): Promise<void> {
    return this.#link.netlink('setMtu').setMtu(this.index, mtu, options);
  }

  /** The link as the kernel has it now, counters included. */
  async link(options?: RequestOptions): Promise<LinkInfo> {
    return this.#link.netlink('link').link(this.index, options);
  }

  /** Sets the hardware address (TAP devices; TUN devices have none). */
  async setMacAddress(mac: string, options?: RequestOptions): Promise<void> {
    return this.#link.netlink('setMacAddress').setMacAddress(this.index, mac, options);
  }

  /** Sets the transmit queue length (the TUN ring, 500 by default). */
  async setTxQueueLength(length: number, options?: RequestOptions): Promise<void> {
    return this.#link.netlink('setTxQueueLength').setTxQueueLength(this.index, length, options);
  }

  /** Adds a route through this device: `await dev.addRoute('10.33.0.0/16')`. */
  async addRoute(cidr: string, options: Omit<RouteOptions, 'device'> = {}): Promise<void> {
    validateObject(options, 'options');
    return this.#link.netlink('addRoute').addRoute(cidr, { ...options, device: this.index });
  }

  /** Removes a route through this device. */
  async removeRoute(cidr: string, options: Omit<RouteOptions, 'device'> = {}): Promise<void> {
    validateObject(options, 'options');
    return this.#link.netlink('removeRoute').removeRoute(cidr, { ...options, device: this.index });
  }

  /** The device's flags as the kernel has them now (TUNGETIFF); EBADFD once it was deleted. */
  async getFlags(): Promise<TunFlags> {
    return decodeFlags((await this.#ioctl<{ name: string; flags: number }>('getFlags()', native.ioctlOps.getIff)).flags);
  }

  /** Sets or clears IFF_PERSIST; once cleared, the kernel deletes the device when its last fd closes. */
  async setPersist(persist: boolean): Promise<void> {
    validateBoolean(persist, 'persist');
    await this.#ioctl('setPersist()', native.ioctlOps.setPersist, persist ? 1 : 0);
  }

  /** Lets this uid open the device without CAP_NET_ADMIN (TUNSETOWNER). */
  async setOwner(uid: number): Promise<void> {
    checkId('uid', uid);
    await this.#ioctl('setOwner()', native.ioctlOps.setOwner, uid);
  }

  /** Lets members of this gid open the device without CAP_NET_ADMIN (TUNSETGROUP). */
  async setGroup(gid: number): Promise<void> {
    checkId('gid', gid);
    await this.#ioctl('setGroup()', native.ioctlOps.setGroup, gid);
  }

  /** The send buffer of the device's queues in bytes (TUNGETSNDBUF); unlimited (INT_MAX) unless set. */
  async getSendBufferSize(): Promise<number> {
    return this.#ioctl<number>('getSendBufferSize()', native.ioctlOps.getSndBuf);
  }

  /** Sets the send buffer of every queue (TUNSETSNDBUF): the bytes written and not yet consumed by the stack. */
  async setSendBufferSize(bytes: number): Promise<void> {
    checkSendBufferSize('bytes', bytes);
    await this.#ioctl('setSendBufferSize()', native.ioctlOps.setSndBuf, bytes);
  }

  /**
   * Attaches a classic BPF program the kernel runs on every frame before queueing it for reading,
   * dropping those it returns 0 for (TUNATTACHFILTER), on every queue. TAP devices only (ENOTSUP).
   *
   * ```ts
   * // Keep IPv4 UDP only.
   * await dev.attachFilter([
   *   bpfStatement(BPF.LD | BPF.H | BPF.ABS, 12),
   *   bpfJump(BPF.JMP | BPF.JEQ | BPF.K, 0x0800, 0, 3),
   *   bpfStatement(BPF.LD | BPF.B | BPF.ABS, 23),
   *   bpfJump(BPF.JMP | BPF.JEQ | BPF.K, 17, 0, 1),
   *   bpfStatement(BPF.RET | BPF.K, 0xffff),
   *   bpfStatement(BPF.RET | BPF.K, 0),
   * ]);
   * ```
   */
  async attachFilter(instructions: readonly BpfInstruction[]): Promise<void> {
    const program = encodeFilter(instructions);
    this.#requireTap('ioctl(TUNATTACHFILTER)');
    await this.#ioctl('attachFilter()', native.ioctlOps.attachFilter, 0, program);
  }

  /** Removes the filter of {@link TunDevice.attachFilter} (TUNDETACHFILTER). */
  async detachFilter(): Promise<void> {
    this.#requireTap('ioctl(TUNDETACHFILTER)');
    await this.#ioctl('detachFilter()', native.ioctlOps.detachFilter);
  }

  /** Whether this queue is attached (false between detachQueue() and attachQueue()). */
  get queueAttached(): boolean {
    return this.#reader.queueAttached;
  }

  /**
   * Takes this queue out of the device (IFF_DETACH_QUEUE): it gets nothing and loses what it had
   * queued; writes still work. Reading pauses until {@link TunDevice.attachQueue}. Multi-queue
   * devices only (ENOTSUP); EINVAL when detached already or the device is gone.
   */
  async detachQueue(): Promise<void> {
    this.#requireMultiQueue();
    await this.#ioctl('detachQueue()', native.ioctlOps.setQueue, 0);
    if (!this.#isClosed()) this.#reader.onQueueDetached();
  }

  /** Puts a detached queue back (IFF_ATTACH_QUEUE); EINVAL when attached already, EPERM if we may no longer open it. */
  async attachQueue(): Promise<void> {
    this.#requireMultiQueue();
    await this.#ioctl('attachQueue()', native.ioctlOps.setQueue, 1);
    if (!this.#isClosed()) this.#reader.onQueueAttached();
  }

  /** One ioctl on the thread pool; a closed device rejects with ERR_DEVICE_CLOSED. */
  async #ioctl<T = void>(what: string, op: number, arg = 0, program?: Uint8Array): Promise<T> {
    this.#assertOpen(what);
    try {
      return (await native.tunIoctl(this.#handle.fd, op, arg, program)) as T;
    } catch (error) {
      throw fromNative(error, { device: this.name });
    }
  }

  #requireTap(syscall: string): void {
    this.#assertOpen(syscall);
    if (this.mode !== 'tap') throw new TunError(EOPNOTSUPP, syscall, { device: this.name });
  }

  #requireMultiQueue(): void {
    this.#assertOpen('ioctl(TUNSETQUEUE)');
    if (!this.multiQueue) throw new TunError(EOPNOTSUPP, 'ioctl(TUNSETQUEUE)', { device: this.name });
  }

  /** Let the process exit while this device is still open (like socket.unref()). */
  unref(): this {
    this.#refed = false;
    if (!this.#isClosed()) this.#handle.unref();
    this.#link.setKeepAlive(false);
    return this;
  }

  /** Undo unref(). */
  ref(): this {
    this.#refed = true;
    if (!this.#isClosed()) this.#handle.ref();
    this.#link.setKeepAlive(true);
    return this;
  }

  /** Flushes `writable`, ends `readable` (packets read stay readable) and closes the fd; every call returns the same promise. */
  close(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'closing';
      const w = this.writable;
      // 'close' comes however `writable` ends: finished, destroyed, or failed.
      // (No finished(): its 'error' listener would look like the user's to #teardown.)
      const flushed =
        w.destroyed || w.writableFinished
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              w.once('close', () => resolve());
              if (!w.writableEnded) w.end();
            });
      // destroy() during the flush has closed the device already.
      void flushed.then(() => {
        if (this.#state === 'closing') this.#teardown(undefined);
      });
    }
    return this.#released;
  }

  /**
   * Closes at once, even mid-close(): packets queued on `writable` are each a 'drop' with
   * ERR_STREAM_DESTROYED. With an error, emits `error` first; `close` comes once the fd is closed.
   */
  destroy(error?: Error): this {
    if (!this.#isClosed()) this.#teardown(error);
    return this;
  }

  /** `await using dev = await TunDevice.open()` closes the device at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The one move to 'closed': stops everything and closes the fd; #released settles once it is. */
  #teardown(error: Error | undefined): void {
    this.#state = 'closed';
    this.#reader.stop(error === undefined);
    this.#link.close();
    this.#netnsFile?.close();
    // Closing a TUN queue waits for an RCU grace period: native code does it
    // off the event loop. 'error' on the next tick, 'close' when the fd is gone.
    if (error !== undefined) process.nextTick(() => this.emit('error', error));
    this.#handle.close(() => {
      this.emit('close');
      this.#markReleased();
    });
    this.#reader.end(error);
    this.#writer.close(error);
  }

  /** Whether the fd is gone (or going); a method, as user code ('drop', 'data') may close it meanwhile. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #assertOpen(what: string): void {
    if (this.#isClosed()) throw deviceClosed(what, this.name);
  }

  /** What the read and write sides may ask of the device. */
  #core(): DeviceCore {
    return {
      name: this.name,
      mode: this.mode,
      packetInfo: this.packetInfo,
      offload: this.offload,
      maxPacketSize: this.maxPacketSize,
      isClosed: () => this.#isClosed(),
      assertOpen: (what) => this.#assertOpen(what),
      destroy: (error) => this.destroy(error),
      hasDropListener: () => this.listenerCount('drop') > 0,
      emitDrop: (packet, error) => this.emit('drop', packet, error),
    };
  }
}
