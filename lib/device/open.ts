// Opening, adopting and deleting a queue: everything before a TunDevice
// exists (and the fd closes for when none will). The syscalls run on the
// thread pool (native.openTun, the fd's close); a failure closes what was opened.
import { EINVAL, EPERM, ENODEV } from '../internal/errno';
import { TunError, fromNative, invalidValue } from '../internal/errors';
import { isNativeErrnoError, native, type NativeNetnsFile, type NativeOwnedFd } from '../internal/native';
import { validateInteger, validateName, validateObject } from '../internal/validators';
import { kDeleteLink, kTunLink, linkIndex, withNetlink } from '../netlink/api';
import { netnsTarget, openNetnsFile } from '../netlink/netns';
import { decodeFlags, kernelOptionArgs } from './kernel';
import { queueFormatMismatch, queueOffload, type EnabledOffloads } from './offload';
import { validateOptions, type TunDeleteOptions, type TunFromFdOptions, type ValidOptions } from './options';

/** A queue the kernel opened: its fd (owned until a TunHandle takes it), the device's name, flags and index, and the offloads it has. */
export interface OpenedQueue {
  fd: NativeOwnedFd;
  name: string;
  flags: number;
  index: number;
  offload: EnabledOffloads | null;
}

/**
 * Opens one queue as the options say and applies the kernel-side options,
 * on the thread pool; on any failure the fd is closed, persistence this
 * open set is cleared again, and the error is a TunError.
 */
export async function openQueue(opts: ValidOptions, netns: NativeNetnsFile | undefined): Promise<OpenedQueue> {
  const c = native.constants;
  const flags =
    (opts.mode === 'tap' ? c.IFF_TAP : c.IFF_TUN) |
    (opts.packetInfo ? 0 : c.IFF_NO_PI) |
    (opts.kernel.multiQueue ? c.IFF_MULTI_QUEUE : 0) |
    (opts.offload ? c.IFF_VNET_HDR : 0);
  let opened: Omit<OpenedQueue, 'offload'> & { offloads: number };
  try {
    opened = await native.openTun(opts.path, opts.name, flags, netnsTarget(netns), kernelOptionArgs(opts.kernel));
  } catch (error) {
    // A failure to enter the namespace is about the namespace file; one after
    // TUNSETIFF names the device the kernel made.
    const inNetns = isNativeErrnoError(error) && (error.syscall === 'setns' || error.syscall === 'open(netns)');
    const device = (error as { device?: string }).device ?? (opts.name || undefined);
    throw fromNative(error, { device, path: inNetns ? opts.kernel.netns : opts.path });
  }
  try {
    // The kernel keeps a multi-queue device's packet format as its first
    // queue set it: a later queue gets that format whatever it asked for.
    let joined = false;
    if (opts.kernel.multiQueue) {
      const tun = await withNetlink(netnsTarget(netns), (nl) => nl[kTunLink](opened.index));
      joined = tun !== undefined && tun.queues + tun.disabledQueues > 1;
      if (tun !== undefined && joined && tun.packetInfo !== opts.packetInfo) {
        const theirs = tun.packetInfo ? 'carry packet information' : 'carry no packet information';
        throw queueFormatMismatch(opened.name, theirs, `with packetInfo: ${String(tun.packetInfo)}`);
      }
    }
    const { fd, name, index } = opened;
    return { fd, name, flags: opened.flags, index, offload: queueOffload(fd.fd, opts.offload, opened, joined) };
  } catch (error) {
    // TUNGETIFF read the flags before the options: persistence this open set is undone.
    if (opts.kernel.persist === true && (opened.flags & c.IFF_PERSIST) === 0) {
      await native.tunIoctl(opened.fd.fd, native.ioctlOps.setPersist, 0).catch(() => {});
    }
    await closeQueue(opened.fd);
    throw error;
  }
}

/** Closes an opened queue's fd on the thread pool (closing a TUN queue takes the rtnl lock). */
export function closeQueue(fd: NativeOwnedFd): Promise<void> {
  return new Promise((resolve) => fd.close(() => resolve()));
}

/**
 * TunDevice.delete(): RTM_DELLINK once the link is known to be the TUN/TAP device asked for.
 * Without CAP_NET_ADMIN, the owner of a persistent device no queue holds attaches, clears IFF_PERSIST, closes.
 */
export async function deleteDevice(name: string, options: TunDeleteOptions): Promise<void> {
  validateName(name);
  if (name === '' || name.includes('%')) throw invalidValue('name', name, 'must name an existing device');
  validateObject(options, 'options');
  const opts = validateOptions({ ...options, name });
  const netns = openNetnsFile(opts.kernel.netns);
  try {
    const unprivileged = await withNetlink(netnsTarget(netns), async (nl) => {
      const tun = await nl[kTunLink](name);
      const refuse = (why: string): TunError =>
        new TunError(EINVAL, 'netlink RTM_GETLINK', { device: name, hint: `${why}: TunDevice.delete() leaves it alone` });
      if (tun === undefined) throw refuse(`'${name}' is not a TUN/TAP device`);
      if (options.mode !== undefined && tun.mode !== options.mode) throw refuse(`'${name}' is a ${tun.mode} device`);
      if (options.multiQueue !== undefined && tun.multiQueue !== options.multiQueue) {
        throw refuse(`'${name}' is ${tun.multiQueue ? 'a multi-queue' : 'a single-queue'} device`);
      }
      try {
        await nl[kDeleteLink](tun.index, name);
        return undefined;
      } catch (error) {
        if (error instanceof TunError && error.code === 'EPERM' && tun.persist && tun.queues + tun.disabledQueues === 0)
          return tun;
        throw error;
      }
    });
    if (unprivileged === undefined) return;
    const { mode, multiQueue } = unprivileged;
    const attach = validateOptions({ ...options, name, mode, multiQueue, persist: false });
    const opened = await openQueue(attach, netns);
    await closeQueue(opened.fd);
    // The device went away since we asked (TUNSETIFF made a new one, gone
    // again with the fd), or it is not persistent any more.
    if ((opened.flags & native.constants.IFF_PERSIST) === 0) {
      throw new TunError(ENODEV, 'ioctl(TUNSETIFF)', { device: name, hint: `No persistent device '${name}' (any more)` });
    }
  } finally {
    netns?.close();
  }
}

/** TunDevice.fromFd() up to the constructor: what the fd is, made ours, and where it lives. */
export async function adoptQueue(
  fd: number,
  options: TunFromFdOptions,
): Promise<{ opts: ValidOptions; opened: OpenedQueue; netns: NativeNetnsFile | undefined }> {
  // An fd is a C int: 2 ** 32 + 3 would reach the kernel as fd 3.
  validateInteger(fd, 'fd', 0, 0x7fffffff);
  validateObject(options, 'options');
  // A second TunDevice on the same fd would close it under the first.
  if (native.tunFdInUse(fd)) throw invalidValue('fd', fd, 'is already owned by an open TunDevice of this process');
  let iff: { name: string; flags: number };
  let index: number;
  try {
    // Ask what it is before changing anything: O_NONBLOCK belongs to the
    // open file, so setting it on a terminal or a pipe would change it for
    // every process that shares it.
    iff = native.tunGetIff(fd);
    native.adoptFd(fd);
  } catch (error) {
    throw fromNative(error, { path: `fd ${fd}` });
  }
  const flags = decodeFlags(iff.flags);
  // The device may live in another namespace than ours (the fd came from a
  // process there), where its name may belong to another link here: bind
  // to the device's own namespace, and find its index there.
  let netns: NativeNetnsFile | undefined;
  try {
    const ns = native.tunDeviceNetns(fd);
    if (ns >= 0) netns = new native.NetnsFile(ns);
  } catch (error) {
    // EPERM: TUNGETDEVNETNS needs CAP_NET_ADMIN over that namespace, which
    // an unprivileged receiver of the fd lacks; then the device is taken
    // to be in ours, as the fd's sender normally arranges.
    if (!(isNativeErrnoError(error) && error.errno === EPERM)) throw fromNative(error, { path: `fd ${fd}` });
  }
  try {
    index = await linkIndex(iff.name, netnsTarget(netns));
  } catch {
    index = 0;
  }
  const opts = validateOptions({
    ...options,
    name: iff.name,
    mode: flags.tap ? 'tap' : 'tun',
    multiQueue: flags.multiQueue,
  });
  return { opts, opened: { fd: new native.OwnedFd(fd), name: iff.name, flags: iff.flags, index, offload: null }, netns };
}
