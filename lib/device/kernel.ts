// The kernel-side options of a TUN/TAP device (persistence, ownership,
// queues, namespace, send buffer) and its flags read back as a typed object.
import { native } from '../internal/native';
import { validateBoolean, validateInteger } from '../internal/validators';
import { validateNetnsPath } from '../netlink/netns';

/**
 * The device's flags as the kernel reports them (TUNGETIFF).
 *
 * ```ts
 * if ((await dev.getFlags()).persist) console.log(`${dev.name} outlives this process`);
 * ```
 */
export interface TunFlags {
  /** IFF_TUN: IP packets. */
  tun: boolean;
  /** IFF_TAP: Ethernet frames. */
  tap: boolean;
  /**
   * IFF_NOFILTER: no socket filter is attached. TUNGETIFF reports this in
   * the bit IFF_NO_PI also uses (0x1000), so the flags cannot tell whether
   * packets carry packet information: {@link TunDevice.packetInfo} can.
   */
  noFilter: boolean;
  /** IFF_DETACH_QUEUE: this queue is detached. */
  detached: boolean;
  /** IFF_MULTI_QUEUE: several fds (queues) may attach. */
  multiQueue: boolean;
  /** IFF_VNET_HDR: packets carry a virtio-net header. */
  vnetHeader: boolean;
  /** IFF_PERSIST: the device stays when the last fd closes. */
  persist: boolean;
  /** IFF_NAPI: writes go through NAPI. */
  napi: boolean;
  /** IFF_NAPI_FRAGS: writes are fragment lists (NAPI). */
  napiFrags: boolean;
  /** The flags word as the kernel gave it, for bits not named here. */
  raw: number;
}

// linux/if_tun.h: bits that only TUNGETIFF reports, about the queue.
const IFF_NOFILTER = 0x1000;
const IFF_DETACH_QUEUE = 0x0400;

/** Turns a TUNGETIFF flags word into {@link TunFlags}. */
export function decodeFlags(raw: number): TunFlags {
  const c = native.constants;
  const has = (bit: number): boolean => (raw & bit) !== 0;
  return {
    tun: has(c.IFF_TUN),
    tap: has(c.IFF_TAP),
    noFilter: has(IFF_NOFILTER),
    detached: has(IFF_DETACH_QUEUE),
    multiQueue: has(c.IFF_MULTI_QUEUE),
    vnetHeader: has(c.IFF_VNET_HDR),
    persist: has(c.IFF_PERSIST),
    napi: has(c.IFF_NAPI),
    napiFrags: has(c.IFF_NAPI_FRAGS),
    raw,
  };
}

/** The options of {@link TunDeviceOptions} that this file checks. */
export interface KernelOptions {
  multiQueue: boolean;
  persist: boolean | undefined;
  owner: number | undefined;
  group: number | undefined;
  netns: string;
  sendBufferSize: number | undefined;
}

/** Largest uid / gid: (uid_t)-1 means "none" to the kernel, which refuses it (EINVAL). */
const MAX_ID = 0xfffffffe;
const MAX_SNDBUF = 0x7fffffff;

/** A uid or gid for TUNSETOWNER / TUNSETGROUP. */
export function checkId(name: string, value: unknown): number {
  return validateInteger(value, name, 0, MAX_ID);
}

/** A send buffer size for TUNSETSNDBUF: the kernel refuses <= 0. */
export function checkSendBufferSize(name: string, value: unknown): number {
  return validateInteger(value, name, 1, MAX_SNDBUF);
}

function optionalBoolean(name: string, value: unknown): boolean | undefined {
  return value === undefined ? undefined : validateBoolean(value, name);
}

/** Checks the kernel-side options before any syscall. */
export function validateKernelOptions(options: {
  multiQueue?: unknown;
  persist?: unknown;
  owner?: unknown;
  group?: unknown;
  netns?: unknown;
  sendBufferSize?: unknown;
}): KernelOptions {
  const netns = validateNetnsPath(options.netns);
  return {
    multiQueue: optionalBoolean('options.multiQueue', options.multiQueue) ?? false,
    persist: optionalBoolean('options.persist', options.persist),
    owner: options.owner === undefined ? undefined : checkId('options.owner', options.owner),
    group: options.group === undefined ? undefined : checkId('options.group', options.group),
    netns,
    sendBufferSize:
      options.sendBufferSize === undefined ? undefined : checkSendBufferSize('options.sendBufferSize', options.sendBufferSize),
  };
}

/**
 * Owner, group, send buffer and persistence as openTun() applies them to a
 * queue just opened ([owner, group, sendBufferSize, persist], -1 for "leave
 * it"). Persistence goes last so that a failure before it leaves no device
 * behind when the fd is closed.
 */
export function kernelOptionArgs(k: KernelOptions): [number, number, number, number] {
  return [k.owner ?? -1, k.group ?? -1, k.sendBufferSize ?? -1, k.persist === undefined ? -1 : k.persist ? 1 : 0];
}
