// What a device is opened with: the public option types, checked before any
// syscall into the one shape the rest of lib/device/ works from.
import { invalidType, invalidValue } from '../internal/errors';
import { validateBoolean, validateInteger, validateName, validateObject, validatePath } from '../internal/validators';
import { validateKernelOptions, type KernelOptions } from './kernel';
import { validateOffload, type OffloadOptions } from './offload';

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
  /**
   * Packets `readable` buffers before it stops reading from the kernel, and
   * the most it ever holds: a wake-up hands it no more than its free room
   * (the rest waits in the kernel's ring). Default 64.
   */
  readableHighWaterMark?: number;
  /** Bytes `writable` queues before write() returns false. Default 256 KiB. */
  writableHighWaterMark?: number;
  /**
   * Packets read from the kernel per event-loop wake-up, at most. Default 256.
   * Each wake-up costs about as much as one or two reads (an epoll_wait and a
   * call into JS), so bigger batches cost less per packet under load; a full
   * batch holds the event loop for as long as its packets' handlers take:
   * about 0.5 ms at 256 in the `npm run bench` case 'rx 1400B' (node-stream,
   * about 540k packets a second in bench/results.json).
   */
  maxBatch?: number;
  /**
   * Read on a thread of the device's own (one per queue) while the queue is
   * busy: the thread reads batches into pooled slabs while JS handles the
   * batches before, so the reads overlap your handlers' work. `readable`
   * gets large parts of a batch as they were read (the loop copies nothing);
   * small parts, large packets and readBatches with `reuseSlab` are copied
   * on the loop. The event loop reads as without it
   * until a wake-up finds a full batch (or half a slab) and more waiting;
   * the thread hands the reading back after 16 batches in a row of a few
   * packets each, so a light load costs about what it costs without a
   * thread. `{ cpu: n }` also pins the thread to CPU n (one the loop thread
   * does not use is best: left to the scheduler, the two often end up
   * sharing one). Costs: a thread, and the copies above; see the guide's
   * "Performance and scaling" for figures. Backpressure still holds: the
   * thread reads only while `readable` (or readBatches) does, and at most 12
   * batches of `maxBatch` packets wait in its slabs (1 MiB each) besides
   * what `readable` buffers. Packets keep their order
   * across the hand-overs. Default false.
   */
  readerThread?: boolean | ReaderThreadOptions;
  /**
   * Offloads (IFF_VNET_HDR + TUNSETOFFLOAD): every packet read then starts
   * with a 10-byte virtio_net_hdr and may be a super-packet of up to 64 KiB;
   * every packet written must start with one too. `true` takes checksum, TSO
   * and USO as far as the kernel has them; an object asks for each and fails
   * with ENOTSUP naming the flag the kernel refuses. Without it, the device's
   * offloads are turned off. The header and the offloads belong to the
   * device: see `multiQueue` for a queue joining one. Default false.
   */
  offload?: boolean | OffloadOptions;
  /**
   * Open one queue of a multi-queue device (IFF_MULTI_QUEUE). Every open of
   * the same name with multiQueue adds a queue with its own fd and streams;
   * the kernel spreads flows over the attached queues. The kernel gives every
   * queue the packet format of the first (virtio header, packet information):
   * a queue whose `offload` or `packetInfo` differs from the device's fails
   * with EINVAL; one with `offload: true` takes the device's offloads.
   * Default false.
   */
  multiQueue?: boolean;
  /**
   * Set (true) or clear (false) IFF_PERSIST: a persistent device stays when
   * its last fd closes, until deleted. Omitted: left as it is. Applied last:
   * an open that fails or is aborted leaves no device that it made.
   */
  persist?: boolean;
  /** The uid that may open the device without CAP_NET_ADMIN (TUNSETOWNER). */
  owner?: number;
  /** The gid whose members may open the device without CAP_NET_ADMIN (TUNSETGROUP). */
  group?: number;
  /**
   * Open the device in this network namespace: a file such as
   * '/var/run/netns/NAME' or '/proc/PID/ns/net'. Only the opening thread
   * enters it, for the duration of the open; the device then lives there.
   * The namespace file is held open until the device closes, so the device's
   * helpers keep acting on that namespace even if the path is deleted and
   * made again for another one. Needs CAP_SYS_ADMIN.
   */
  netns?: string;
  /** The queue's send buffer in bytes (TUNSETSNDBUF); the kernel's default is unlimited. */
  sendBufferSize?: number;
  /**
   * Aborting it makes open() reject with an AbortError (and closes the fd if
   * the kernel had already opened it, which removes a device this open made).
   */
  signal?: AbortSignal;
}

/** What {@link TunDevice.create} needs: the device's identity and who may open it. */
export type TunCreateOptions = Pick<
  TunDeviceOptions,
  'name' | 'mode' | 'packetInfo' | 'multiQueue' | 'owner' | 'group' | 'path' | 'netns'
>;

/** What {@link TunDevice.delete} needs to find a device; mode and multiQueue, when given, must be the device's. */
export type TunDeleteOptions = Pick<TunDeviceOptions, 'mode' | 'multiQueue' | 'path' | 'netns'>;

/**
 * Options for {@link TunDevice.fromFd}. Name, mode and multi-queue come from
 * the fd; `packetInfo` must be said (default false), because TUNGETIFF
 * reports IFF_NO_PI in a bit it shares with IFF_NOFILTER.
 */
export type TunFromFdOptions = Pick<
  TunDeviceOptions,
  'packetInfo' | 'readableHighWaterMark' | 'writableHighWaterMark' | 'maxBatch' | 'readerThread'
>;

/** Options of {@link TunDeviceOptions.readerThread}. */
export interface ReaderThreadOptions {
  /** Pin the reader thread to this CPU (0-based, as `taskset -c` counts). Default: not pinned. */
  cpu?: number;
}

/**
 * Called by {@link TunDevice.readBatches} once per batch. Packet i is
 * `slab.subarray(descriptors[2 * i], descriptors[2 * i] + descriptors[2 * i + 1])`.
 * Returning `false` pauses the batches until {@link TunDevice.resumeBatches}.
 *
 * ```ts
 * const onBatch: PacketBatchHandler = (slab, d, count) => { packets += count; };
 * ```
 */
export type PacketBatchHandler = (slab: Buffer, descriptors: Uint32Array, count: number) => boolean | void;

/** Options of {@link TunDevice.readBatches}. */
export interface ReadBatchesOptions {
  /** Stops the batches (as {@link TunDevice.pauseBatches}) when aborted. */
  signal?: AbortSignal;
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

/** Options checked and defaulted: what open, create and delete work from. */
export interface ValidOptions {
  kernel: KernelOptions;
  name: string;
  mode: TunMode;
  packetInfo: boolean;
  path: string;
  readableHighWaterMark: number;
  writableHighWaterMark: number;
  maxBatch: number;
  /** undefined: read on the event loop; cpu -1: a reader thread, not pinned. */
  readerThread: { cpu: number } | undefined;
  offload: ReturnType<typeof validateOffload>;
}

function integerOption(
  options: TunDeviceOptions,
  key: keyof TunDeviceOptions,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = options[key];
  return value === undefined ? fallback : validateInteger(value, `options.${key}`, min, max);
}

function validateReaderThread(value: unknown): { cpu: number } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { cpu: -1 };
  const cpu = validateObject(value, 'options.readerThread', 'a boolean or an object').cpu;
  return { cpu: cpu === undefined ? -1 : validateInteger(cpu, 'options.readerThread.cpu', 0, 1023) };
}

export function validateOptions(options: TunDeviceOptions): ValidOptions {
  validateObject(options, 'options');
  // undefined, not null, stands for the default: as Node's own options.
  const mode = options.mode === undefined ? 'tun' : options.mode;
  if (mode !== 'tun' && mode !== 'tap') throw invalidValue('options.mode', mode, "must be 'tun' or 'tap'");
  const packetInfo = validateBoolean(options.packetInfo, 'options.packetInfo', false);
  const path = options.path === undefined ? DEFAULT_PATH : options.path;
  if (validatePath(path, 'options.path', 'a non-empty string') === '')
    throw invalidType('options.path', 'a non-empty string', path);
  return {
    kernel: validateKernelOptions(options),
    name: validateName(options.name === undefined ? '' : options.name, 'options.name'),
    mode,
    packetInfo,
    path,
    readableHighWaterMark: integerOption(options, 'readableHighWaterMark', 64, 1, 1 << 20),
    writableHighWaterMark: integerOption(options, 'writableHighWaterMark', 256 * 1024, 1, 1 << 30),
    maxBatch: integerOption(options, 'maxBatch', 256, 1, 4096),
    readerThread: validateReaderThread(options.readerThread),
    offload: validateOffload(options.offload),
  };
}

/** The largest packet a device opened with `opts` takes, headers included. */
export function maxPacketSize(opts: ValidOptions, offloadHeaderSize: number): number {
  return (
    (opts.packetInfo ? PACKET_INFO_SIZE : 0) + offloadHeaderSize + (opts.mode === 'tap' ? MAX_LINK_HEADER : 0) + MAX_IP_PACKET
  );
}
