// Opening, adopting and deleting a queue: everything before a TunDevice
// exists (and the fd closes for when none will). The syscalls run on the
// thread pool (native.openTun, the fd's close); a failure closes what was opened.
import { EPERM, ENODEV } from '../internal/errno';
import { TunError, fromNative, invalidValue } from '../internal/errors';
import { isNativeErrnoError, native, type NativeNetnsFile, type NativeOwnedFd } from '../internal/native';
import { validateInteger, validateName, validateObject } from '../internal/validators';
import { linkIndex } from '../netlink/api';
import { netnsTarget, openNetnsFile } from '../netlink/netns';
import { decodeFlags, kernelOptionArgs } from './kernel';
import { validateOptions, type TunDeleteOptions, type TunFromFdOptions, type TunMode, type ValidOptions } from './options';

/** A queue the kernel opened: its fd (owned until a TunHandle takes it), the device's name, flags and index. */
export interface OpenedQueue {
  fd: NativeOwnedFd;
  name: string;
  flags: number;
  index: number;
}

/**
 * Opens one queue as the options say and applies the kernel-side options,
 * on the thread pool; on any failure the fd is closed and the error is a TunError.
 */
export async function openQueue(opts: ValidOptions, netns: NativeNetnsFile | undefined): Promise<OpenedQueue> {
  const c = native.constants;
  const flags =
    (opts.mode === 'tap' ? c.IFF_TAP : c.IFF_TUN) |
    (opts.packetInfo ? 0 : c.IFF_NO_PI) |
    (opts.kernel.multiQueue ? c.IFF_MULTI_QUEUE : 0) |
    (opts.offload ? c.IFF_VNET_HDR : 0);
  try {
    return await native.openTun(opts.path, opts.name, flags, netnsTarget(netns), kernelOptionArgs(opts.kernel));
  } catch (error) {
    // A failure to enter the namespace is about the namespace file; one after
    // TUNSETIFF names the device the kernel made.
    const inNetns = isNativeErrnoError(error) && (error.syscall === 'setns' || error.syscall === 'open(netns)');
    const device = (error as { device?: string }).device ?? (opts.name || undefined);
    throw fromNative(error, { device, path: inNetns ? opts.kernel.netns : opts.path });
  }
}

/** Closes an opened queue's fd on the thread pool (closing a TUN queue takes the rtnl lock). */
export function closeQueue(fd: NativeOwnedFd): Promise<void> {
  return new Promise((resolve) => fd.close(() => resolve()));
}

/** TunDevice.delete(): attach to a persistent device, clear IFF_PERSIST, close. */
export async function deletePersistent(name: string, options: TunDeleteOptions): Promise<void> {
  validateName(name);
  if (name === '' || name.includes('%')) throw invalidValue('name', name, 'must name an existing device');
  validateObject(options, 'options');
  const netns = openNetnsFile(validateOptions({ ...options, name }).kernel.netns);
  try {
    // TUNSETIFF would create a missing device (watchers would see it come
    // and go): ask netlink first, in the device's namespace.
    await linkIndex(name, netnsTarget(netns));
    const modes: TunMode[] = options.mode !== undefined ? [options.mode] : ['tun', 'tap'];
    const queues = options.multiQueue !== undefined ? [options.multiQueue] : [false, true];
    let first: unknown;
    for (const mode of modes) {
      for (const multiQueue of queues) {
        const opts = validateOptions({ ...options, name, mode, multiQueue, persist: false });
        let opened: { fd: NativeOwnedFd; flags: number };
        try {
          opened = await openQueue(opts, netns);
        } catch (error) {
          // EINVAL: the device exists with the other mode or queue setting.
          if (!(error instanceof TunError) || error.code !== 'EINVAL') throw error;
          first ??= error;
          continue;
        }
        await closeQueue(opened.fd);
        // The device went away since we asked (TUNSETIFF made a new one,
        // gone again with the fd), or it is not persistent.
        if ((opened.flags & native.constants.IFF_PERSIST) === 0) {
          throw new TunError(ENODEV, 'ioctl(TUNSETIFF)', { device: name, hint: `No persistent device '${name}' (any more)` });
        }
        return;
      }
    }
    throw first;
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
  return { opts, opened: { fd: new native.OwnedFd(fd), name: iff.name, flags: iff.flags, index }, netns };
}
