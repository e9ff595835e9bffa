// A namespace path (/var/run/netns/NAME) is opened once at open, so later work reaches that
// namespace through the fd even after the name is deleted and made again.
import { fromNative } from '../internal/errors';
import { native, type NativeNetnsFile, type NetnsTarget } from '../internal/native';
import { validateObject, validatePath } from '../internal/validators';

/** The namespace file at `path` held open, or undefined for '' (ours). Throws a TunError. */
export function openNetnsFile(path: string): NativeNetnsFile | undefined {
  if (path === '') return undefined;
  try {
    return new native.NetnsFile(path);
  } catch (error) {
    throw fromNative(error, { path });
  }
}

/** What a native call takes for the namespace of `file`: its fd, or '' for ours. */
export function netnsTarget(file: NativeNetnsFile | undefined): NetnsTarget {
  return file === undefined ? '' : file.fd;
}

/** The error context of a failure in that namespace: its path, when it has one. */
export function netnsContext(netns: NetnsTarget): { path?: string } {
  return typeof netns === 'string' && netns !== '' ? { path: netns } : {};
}

/** Options of Netlink.open(). */
export interface NetlinkOptions {
  /** A network namespace file to speak for; default: the calling thread's own. */
  netns?: string;
}

/** The namespace path of Netlink.open() and Netlink.watch() options ('' for ours). */
export function validateNetns(options: NetlinkOptions): string {
  validateObject(options, 'options');
  return validateNetnsPath(options.netns);
}

/** `options.netns` of a device or a socket: a path, or '' for ours when undefined. */
export function validateNetnsPath(value: unknown): string {
  return validatePath(value === undefined ? '' : value, 'options.netns', 'a string (a path such as /var/run/netns/NAME)');
}
