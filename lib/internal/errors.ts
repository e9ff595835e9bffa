// Errors shaped like Node's own: system errors carry `code`, `errno` (negative,
// as in Node), `syscall` and a message that says what to do; argument errors
// carry Node's ERR_* codes and are thrown before any syscall.
import { linuxErrnoMessage, linuxErrnoName } from './errno';

/**
 * The symbolic name of a positive errno ('EPERM' for 1).
 *
 * ```ts
 * errnoName(1); // 'EPERM'
 * ```
 */
export function errnoName(errno: number): string {
  // validators.ts builds on this file, so its validateInteger is not imported here.
  if (typeof errno !== 'number' || !Number.isInteger(errno)) throw invalidType('errno', 'an integer', errno);
  if (errno < 1 || errno > 0x7fffffff) throw outOfRange('errno', '>= 1 and <= 2147483647', errno);
  return linuxErrnoName(errno);
}

/** An error thrown by the native core: errno is positive, as the kernel gave it. */
export interface NativeErrnoError extends Error {
  errno: number;
  syscall: string;
}

export function isNativeErrnoError(value: unknown): value is NativeErrnoError {
  return (
    value instanceof Error &&
    typeof (value as Partial<NativeErrnoError>).errno === 'number' &&
    typeof (value as Partial<NativeErrnoError>).syscall === 'string'
  );
}

/**
 * What a failed system call was doing, for the message and the hint.
 *
 * ```ts
 * new TunError(-19, 'ioctl(TUNSETIFF)', { device: 'tun0' }); // ENODEV, with a hint about 'tun0'
 * ```
 */
export interface ErrorContext {
  /** The interface the call was about. */
  device?: string;
  /** A file the call was about (/dev/net/tun). */
  path?: string;
  /** What to do, when the caller knows better than the generic hint (netlink requests do). */
  hint?: string;
}

/**
 * A failed system call or kernel request. Like Node's SystemError: `code` is
 * the symbolic errno ('EPERM'), `errno` is negative (-1), `syscall` names the
 * call ('ioctl(TUNSETIFF)', 'write', 'netlink RTM_NEWADDR').
 *
 * ```ts
 * try {
 *   await TunDevice.open({ name: 'tun0' });
 * } catch (error) {
 *   if (error instanceof TunError && error.code === 'EPERM') console.error(error.hint);
 *   else throw error;
 * }
 * ```
 */
export class TunError extends Error {
  /** The symbolic errno: 'EPERM', 'EBUSY', 'ENOENT', ... */
  readonly code: string;
  /** The errno, negative as in Node (-1 for EPERM). */
  readonly errno: number;
  /** The failed call: 'open', 'ioctl(TUNSETIFF)', 'write', 'netlink RTM_NEWADDR', ... */
  readonly syscall: string;
  /** What to do about it, when there is something to say; also in `message`. */
  readonly hint: string | undefined;
  /** The interface the call was about, when there was one. */
  readonly device: string | undefined;
  /** The file the call was about (/dev/net/tun), when there was one. */
  readonly path: string | undefined;

  constructor(errno: number, syscall: string, context: ErrorContext = {}) {
    const positive = Math.abs(errno);
    const code = linuxErrnoName(positive);
    const hint = context.hint ?? hintFor(code, syscall, context);
    const about =
      context.device !== undefined ? ` for '${context.device}'` : context.path !== undefined ? ` on '${context.path}'` : '';
    super(`${syscall} failed${about}: ${code} (${linuxErrnoMessage(positive)})${hint ? `. ${hint}` : ''}`);
    this.name = 'TunError';
    this.code = code;
    this.errno = -positive;
    this.syscall = syscall;
    this.hint = hint;
    this.device = context.device;
    this.path = context.path;
  }
}

function hintFor(code: string, syscall: string, { device, path }: ErrorContext): string | undefined {
  const dev = device !== undefined && device !== '' ? `'${device}'` : 'the device';
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      if (syscall === 'open') {
        return `This process may not open ${path ?? '/dev/net/tun'}: check its mode (crw-rw-rw- is usual) or run with enough privilege`;
      }
      if (syscall === 'setns' || syscall === 'open(netns)') {
        return 'Entering another network namespace needs CAP_SYS_ADMIN (run as root)';
      }
      if (syscall === 'ioctl(TUNSETIFF)' || syscall === 'ioctl(TUNSETQUEUE)') {
        return (
          `The process needs CAP_NET_ADMIN to create ${dev} or attach to it, unless ${dev} is a persistent device ` +
          "whose owner is this process's uid or whose group is one of its groups (TunDevice.create({ owner, group }) as root); " +
          'run as root, grant the capability (setcap cap_net_admin+ep on the node binary), or ask for the owner/group to be set'
        );
      }
      return (
        'The process needs CAP_NET_ADMIN: run it as root, grant the capability ' +
        '(setcap cap_net_admin+ep on the node binary), or open a persistent device whose owner or group is this user'
      );
    case 'ENOENT':
      if (syscall === 'open(netns)') {
        return `No network namespace at ${path ?? 'that path'}: 'ip netns add NAME' makes /var/run/netns/NAME`;
      }
      if (syscall === 'open') {
        return `${path ?? '/dev/net/tun'} does not exist: load the tun module (modprobe tun) or, in a container, pass the device in (--device /dev/net/tun)`;
      }
      return undefined;
    case 'EBUSY':
      if (syscall === 'ioctl(TUNSETQUEUE)') {
        return (
          `${dev} has a BPF filter, and the kernel then leaves a re-attached queue detached (tun_attach): ` +
          'call detachFilter() before detachQueue(), and attachFilter() again after attachQueue()'
        );
      }
      return `${dev} is already attached to another file descriptor: close it there, choose another name, or open every queue with multiQueue`;
    case 'EINVAL':
      if (syscall === 'ioctl(TUNSETIFF)') {
        return `${dev} exists with other flags (TUN vs TAP, packetInfo or multiQueue differ), or the name is not valid`;
      }
      if (syscall === 'ioctl(TUNSETQUEUE)') {
        return `The queue is already in that state (attached or detached), or ${dev} was deleted`;
      }
      if (syscall === 'setns') return `${path ?? 'The file'} is not a network namespace`;
      if (syscall === 'sched_setaffinity') {
        return "options.readerThread.cpu names a CPU this process may not run on: see `taskset -pc $PID`, or the cgroup's cpuset";
      }
      return undefined;
    case 'EAGAIN':
      if (syscall === 'pthread_create') {
        return "No thread for readerThread: the process is at its limit of threads (ulimit -u, or the cgroup's pids.max)";
      }
      return undefined;
    case 'EMFILE':
      return (
        `This process has no file descriptor free for ${syscall}: close the ones it no longer needs, ` +
        'or raise its limit (ulimit -n; LimitNOFILE= for a systemd service)'
      );
    case 'ENFILE':
      return `The system is out of file descriptors (${syscall}): close files elsewhere, or raise sysctl fs.file-max`;
    case 'ENODEV':
    case 'ENXIO':
      return `${dev} does not exist (any more)`;
    case 'EIO':
      if (syscall === 'write') return `${dev} is down: bring the link up before writing to it`;
      return undefined;
    case 'EBADFD':
      if (syscall === 'ioctl(TUNGETIFF)' && device === undefined) {
        return 'The fd is a TUN/TAP file that is not attached to a device (no TUNSETIFF yet, or its queue is detached)';
      }
      return `${dev} was deleted or detached while open`;
    case 'ENOTTY':
      if (syscall.startsWith('ioctl(TUN')) return `${path ?? 'The fd'} is not a TUN/TAP file descriptor`;
      return undefined;
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
      if (syscall === 'ioctl(TUNATTACHFILTER)' || syscall === 'ioctl(TUNDETACHFILTER)') {
        return `The kernel filters only TAP devices (TUNATTACHFILTER refuses TUN); open ${dev} with mode 'tap'`;
      }
      if (syscall === 'ioctl(TUNSETQUEUE)') {
        return `${dev} has a single queue: open every queue with multiQueue: true to attach and detach them`;
      }
      return `The kernel does not support this on ${dev}`;
    default:
      return undefined;
  }
}

/**
 * Turns what the native core threw into a TunError; anything else is returned
 * as is. A TunError already says what it knows (the loader's hint, above all).
 */
export function fromNative(error: unknown, context: ErrorContext = {}): unknown {
  if (error instanceof TunError) return error;
  return isNativeErrnoError(error) ? new TunError(error.errno, error.syscall, context) : error;
}

/**
 * Node's ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE: a TypeError with a code.
 *
 * ```ts
 * try {
 *   await TunDevice.open({ name: 'a/b' });
 * } catch (error) {
 *   (error as InvalidArgumentError).code; // 'ERR_INVALID_ARG_VALUE', thrown before any syscall
 * }
 * ```
 */
export class InvalidArgumentError extends TypeError {
  readonly code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE';
  constructor(code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE', message: string) {
    super(message);
    this.name = 'TypeError';
    this.code = code;
  }
}

/**
 * Node's ERR_OUT_OF_RANGE: a RangeError with a code.
 *
 * ```ts
 * dev.setMtu(10); // rejects with an OutOfRangeError, code 'ERR_OUT_OF_RANGE'
 * ```
 */
export class OutOfRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'RangeError';
  }
}

/**
 * A state error (ERR_DEVICE_CLOSED, ERR_STREAM_DESTROYED): the call came too late.
 *
 * ```ts
 * await dev.close();
 * await dev.up(); // rejects with a StateError, code 'ERR_DEVICE_CLOSED'
 * ```
 */
export class StateError extends Error {
  readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string) {
    super(message);
    this.name = 'Error';
    this.code = code;
  }
}

/** Every code a {@link StateError} has; each is made by one function below. */
export type StateErrorCode =
  | 'ERR_DEVICE_CLOSED'
  | 'ERR_NETLINK_CLOSED'
  | 'ERR_PACKET_DETACHED'
  | 'ERR_READ_SIDE_TAKEN'
  | 'ERR_STREAM_DESTROYED'
  | 'ERR_STREAM_WRITE_AFTER_END'
  | 'ERR_TUNNEL_CLOSED';

export function deviceClosed(what: string, device: string): StateError {
  return new StateError('ERR_DEVICE_CLOSED', `Cannot use ${what}: device '${device}' is closed`);
}

export function tunnelClosed(what: string): StateError {
  return new StateError('ERR_TUNNEL_CLOSED', `Cannot use ${what}: the tunnel is closed`);
}

export function netlinkClosed(): StateError {
  return new StateError('ERR_NETLINK_CLOSED', 'The netlink socket was closed before the kernel answered');
}

export function readSideTaken(what: string, owner: string): StateError {
  return new StateError('ERR_READ_SIDE_TAKEN', `Cannot use ${what}: the device's packets are already read by ${owner}`);
}

export function destroyedError(): StateError {
  return new StateError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed');
}

/** A queued packet whose memory was detached (transferred away) or shrunk to nothing before it could be written. */
export function detachedError(): StateError {
  return new StateError(
    'ERR_PACKET_DETACHED',
    "The packet's memory was detached (transferred to a worker, say) before it was written; the packet was dropped. Transfer a packet's memory only after its write's callback",
  );
}

/** A queued packet destroy() discarded. */
export function discardedError(): StateError {
  return new StateError(
    'ERR_STREAM_DESTROYED',
    'The device was destroyed before the packet was written; the packet was discarded',
  );
}

export function writeAfterEnd(): StateError {
  return new StateError('ERR_STREAM_WRITE_AFTER_END', 'write after end: the device is closing; the packet was not written');
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (value === null) return 'null';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'function') return 'a function';
  return `type ${typeof value} (${String(value)})`;
}

export function invalidType(name: string, expected: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" argument must be ${expected}. Received ${describe(value)}`,
  );
}

export function invalidValue(name: string, value: unknown, reason: string): InvalidArgumentError {
  return new InvalidArgumentError('ERR_INVALID_ARG_VALUE', `The "${name}" argument ${reason}. Received ${describe(value)}`);
}

export function outOfRange(name: string, range: string, value: unknown): OutOfRangeError {
  return new OutOfRangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`);
}
