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
  /** Keep the kernel's 4-byte packet information header (flags, EtherType) on every packet. Default false (IFF_NO_PI). */
  packetInfo?: boolean;
  /** The clone device; default '/dev/net/tun'. */
  path?: string;
  /** Packets `readable` buffers before it stops reading, and the most it ever holds (the rest waits in the kernel). Default 64. */
  readableHighWaterMark?: number;
  /** Bytes `writable` queues before write() returns false. Default 256 KiB. */
  writableHighWaterMark?: number;
  /**
   * Packets read from the kernel per event-loop wake-up, at most. Default 256. Bigger batches
   * cost less per packet under load, but a full batch holds the event loop while its handlers run.
   */
  maxBatch?: number;
  /**
   * Read on a thread of the queue's own while it is busy, so reads overlap your handlers' work;
   * a light load is read on the event loop as without it. `{ cpu: n }` pins the thread to CPU n
   * (best one the loop thread does not use). Backpressure holds, and packets keep their order;
   * costs a thread and some copies (see the guide's "Performance and scaling"). Default false.
   */
  readerThread?: boolean | ReaderThreadOptions;
  /**
   * Offloads (IFF_VNET_HDR + TUNSETOFFLOAD): every packet read or written starts with a
   * virtio_net_hdr, and reads may be super-packets up to 64 KiB. `true` takes what the kernel
   * has; an object asks for each (ENOTSUP names a refused flag). Default false (offloads off).
   */
  offload?: boolean | OffloadOptions;
  /**
   * Open one queue of a multi-queue device (IFF_MULTI_QUEUE); the kernel spreads flows over the
   * queues. Every queue has the first one's packet format: a differing `offload` or `packetInfo`
   * is EINVAL (`offload: true` takes the device's). Default false.
   */
  multiQueue?: boolean;
  /** Set or clear IFF_PERSIST (the device outlives its last fd); omitted: left as it is. Applied last, so a failed open leaves nothing. */
  persist?: boolean;
  /** The uid that may open the device without CAP_NET_ADMIN (TUNSETOWNER). */
  owner?: number;
  /** The gid whose members may open the device without CAP_NET_ADMIN (TUNSETGROUP). */
  group?: number;
  /**
   * Open the device in this network namespace ('/var/run/netns/NAME', '/proc/PID/ns/net'). The
   * file is held until the device closes, so its helpers act there even if the path is remade.
   * Needs CAP_SYS_ADMIN.
   */
  netns?: string;
  /** The queue's send buffer in bytes (TUNSETSNDBUF); the kernel's default is unlimited. */
  sendBufferSize?: number;
  /** Aborting it makes open() reject with an AbortError (and removes a device this open made). */
  signal?: AbortSignal;
}

/** What {@link TunDevice.create} needs: the device's identity and who may open it. */
export type TunCreateOptions = Pick<
  TunDeviceOptions,
  'name' | 'mode' | 'packetInfo' | 'multiQueue' | 'owner' | 'group' | 'path' | 'netns'
>;

/** What {@link TunDevice.delete} needs to find a device; mode and multiQueue, when given, must be the device's. */
export type TunDeleteOptions = Pick<TunDeviceOptions, 'mode' | 'multiQueue' | 'path' | 'netns'>;

/** Options for {@link TunDevice.fromFd}; name, mode and multi-queue come from the fd, but the kernel cannot tell `packetInfo`. */
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
