// Turning offloads on for a device opened with IFF_VNET_HDR: which
// TUNSETOFFLOAD flags an `offload` option asks for, and a clear error naming
// the flag when the kernel refuses one.
import { EINVAL, ENOTSUP } from '../internal/errno';
import { TunError, fromNative, invalidValue } from '../internal/errors';
import { validateBoolean, validateObject } from '../internal/validators';
import { native } from '../internal/native';
import { VIRTIO_NET_HDR_SIZE } from '../packet/virtio-net';

/**
 * Which offloads to ask the kernel for. Every packet read or written then
 * starts with a 10-byte virtio_net_hdr (see {@link parseVirtioNetHeader}).
 * Checksum offload is always on: the kernel allows no segmentation offload
 * without it.
 *
 * ```ts
 * const dev = await TunDevice.open({ offload: { tso: true, uso: true } });
 * ```
 */
export interface OffloadOptions {
  /**
   * TCP segmentation offload for IPv4 and IPv6 (TUN_F_TSO4 | TUN_F_TSO6): the
   * kernel hands us TCP super-packets of up to 64 KiB. Default false.
   */
  tso?: boolean;
  /** Also TCP super-packets whose first segment carries CWR (TUN_F_TSO_ECN). Needs tso. Default false. */
  tsoEcn?: boolean;
  /**
   * UDP segmentation offload for IPv4 and IPv6 (TUN_F_USO4 | TUN_F_USO6,
   * Linux 6.2; the kernel takes only both together). Default false.
   */
  uso?: boolean;
}

/** The offloads a device has on; see {@link TunDevice.offload}. */
export interface EnabledOffloads {
  /** Packets may come with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). Always true. */
  readonly checksum: true;
  readonly tso: boolean;
  readonly tsoEcn: boolean;
  readonly uso: boolean;
  /** Bytes of virtio_net_hdr in front of every packet: 10. */
  readonly headerSize: number;
}

interface Wanted {
  tso: boolean;
  tsoEcn: boolean;
  uso: boolean;
  /** `offload: true`: take what the kernel has, refuse nothing. */
  bestEffort: boolean;
}

/**
 * A flag the kernel would not take. `code` is 'ENOTSUP', `flag` names it
 * ('TUN_F_USO4|TUN_F_USO6') and `option` the option that asked for it.
 */
export class OffloadNotSupportedError extends TunError {
  readonly flag: string;
  readonly option: string;
  constructor(flag: string, option: string, device: string) {
    super(ENOTSUP, 'ioctl(TUNSETOFFLOAD)', { device });
    this.flag = flag;
    this.option = option;
    this.message =
      `ioctl(TUNSETOFFLOAD) failed for '${device}': ENOTSUP (the kernel refused ${flag}). ` +
      `This kernel lacks the offload that options.offload.${option} asks for: leave it out, or pass offload: true to take what the kernel has`;
  }
}

/** Checks `options.offload`; undefined means "no vnet header". */
export function validateOffload(value: unknown): Wanted | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { tso: true, tsoEcn: true, uso: true, bestEffort: true };
  const o = validateObject(value, 'options.offload', 'a boolean or an object');
  const flag = (key: keyof OffloadOptions): boolean => validateBoolean(o[key], `options.offload.${key}`, false);
  const wanted = { tso: flag('tso'), tsoEcn: flag('tsoEcn'), uso: flag('uso'), bestEffort: false };
  if (wanted.tsoEcn && !wanted.tso)
    throw invalidValue('options.offload.tsoEcn', true, 'needs options.offload.tso to be true too');
  return wanted;
}

/**
 * A queue whose options differ from the packet format its multi-queue device
 * already has: the kernel would give it the device's format regardless.
 */
export function queueFormatMismatch(device: string, theirs: string, ours: string): TunError {
  return new TunError(EINVAL, 'ioctl(TUNSETIFF)', {
    device,
    hint:
      `The queues of '${device}' ${theirs}, and the kernel gives every queue of a multi-queue device ` +
      `the packet format and offloads of its first: open this one ${ours}, or close the others first`,
  });
}

/** The offloads that TUN_F_* flags turn on. */
function offloadsOf(flags: number): EnabledOffloads {
  const c = native.offloadConstants;
  const has = (bits: number): boolean => (flags & bits) === bits;
  const tso = has(c.TUN_F_TSO4 | c.TUN_F_TSO6);
  return { checksum: true, tso, tsoEcn: tso && has(c.TUN_F_TSO_ECN), uso: has(c.TUN_F_USO4), headerSize: VIRTIO_NET_HDR_SIZE };
}

function describe(o: { tso: boolean; tsoEcn: boolean; uso: boolean }): string {
  const on = (['tso', 'tsoEcn', 'uso'] as const).filter((k) => o[k]);
  return on.length === 0 ? '{}' : `{ ${on.map((k) => `${k}: true`).join(', ')} }`;
}

/**
 * The offloads of a queue just opened. One that joined a multi-queue device takes the device's
 * when its options agree (throws if not), changing nothing for the others; any other queue sets them.
 */
export function queueOffload(
  fd: number,
  wanted: Wanted | undefined,
  opened: { name: string; flags: number; offloads: number },
  joined: boolean,
): EnabledOffloads | null {
  const device = opened.name;
  const vnet = (opened.flags & native.constants.IFF_VNET_HDR) !== 0;
  if (vnet && wanted === undefined) throw queueFormatMismatch(device, 'carry a virtio_net_hdr', 'with `offload` too');
  if (!vnet && wanted !== undefined) throw queueFormatMismatch(device, 'carry no virtio_net_hdr', 'without `offload`');
  if (wanted === undefined) {
    // A persistent device keeps the offloads of its last open: a plain reader
    // would get super-packets and partial checksums.
    const rc = native.setOffload(fd, 0);
    if (rc < 0) throw new TunError(-rc, 'ioctl(TUNSETOFFLOAD)', { device });
    return null;
  }
  if (joined && opened.offloads > 0 && (opened.offloads & native.offloadConstants.TUN_F_CSUM) !== 0) {
    const have = offloadsOf(opened.offloads);
    if (!wanted.bestEffort && (have.tso !== wanted.tso || have.tsoEcn !== wanted.tsoEcn || have.uso !== wanted.uso)) {
      throw queueFormatMismatch(device, `have the offloads ${describe(have)}`, 'with those (or `offload: true`)');
    }
    return have;
  }
  return enableOffload(fd, wanted, device);
}

/**
 * Sets the header size and the offloads on a freshly opened IFF_VNET_HDR fd.
 * Throws OffloadNotSupportedError naming the first flag the kernel refuses
 * (unless best effort), or a TunError for anything else.
 */
function enableOffload(fd: number, wanted: Wanted, device: string): EnabledOffloads {
  const c = native.offloadConstants;
  try {
    native.setVnetHeader(fd, VIRTIO_NET_HDR_SIZE);
  } catch (error) {
    throw fromNative(error, { device });
  }
  // The kernel answers EINVAL for the whole set when it knows any one flag
  // not, so the flags are added group by group to find which one it was.
  const groups: Array<{ option: keyof OffloadOptions; flag: string; bits: number }> = [];
  if (wanted.tso) groups.push({ option: 'tso', flag: 'TUN_F_TSO4|TUN_F_TSO6', bits: c.TUN_F_TSO4 | c.TUN_F_TSO6 });
  if (wanted.tsoEcn) groups.push({ option: 'tsoEcn', flag: 'TUN_F_TSO_ECN', bits: c.TUN_F_TSO_ECN });
  if (wanted.uso) groups.push({ option: 'uso', flag: 'TUN_F_USO4|TUN_F_USO6', bits: c.TUN_F_USO4 | c.TUN_F_USO6 });
  const on = { tso: false, tsoEcn: false, uso: false };
  let bits = c.TUN_F_CSUM;
  const set = (flags: number): number => {
    const rc = native.setOffload(fd, flags);
    if (rc < 0 && rc !== -EINVAL) throw new TunError(-rc, 'ioctl(TUNSETOFFLOAD)', { device });
    return rc;
  };
  // All at once first: a queue joining meanwhile then reads the final set,
  // never one half-way through the probing below.
  if (set(groups.reduce((all, group) => all | group.bits, bits)) === 0) {
    for (const group of groups) on[group.option] = true;
    return { checksum: true, ...on, headerSize: VIRTIO_NET_HDR_SIZE };
  }
  if (set(bits) < 0) throw new OffloadNotSupportedError('TUN_F_CSUM', 'checksum', device);
  for (const group of groups) {
    if (set(bits | group.bits) === 0) {
      bits |= group.bits;
      on[group.option] = true;
    } else if (!wanted.bestEffort) {
      set(bits);
      throw new OffloadNotSupportedError(group.flag, group.option, device);
    }
  }
  // Best effort may have stopped on a refused group: leave the kernel with what we report.
  if (set(bits) < 0) throw new TunError(EINVAL, 'ioctl(TUNSETOFFLOAD)', { device });
  return { checksum: true, ...on, headerSize: VIRTIO_NET_HDR_SIZE };
}
