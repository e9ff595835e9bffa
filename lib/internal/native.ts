// The typed face of the native addon (src/). Only this file loads it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ENOENT, ENOEXEC, ENOTSUP } from './errno';
import { TunError, type ErrorContext } from './errors';

/** A TUN/TAP queue fd driven by libuv; see src/tun_handle.h. */
export interface NativeTunHandle {
  readonly fd: number;
  startReading(): void;
  stopReading(): void;
  /** On: every batch is read into the start of the same slab (JS keeps no views). */
  setSlabReuse(on: boolean): void;
  /** At most this many packets (clamped to 1..maxBatch) per onRead call; a wake-up still reads up to maxBatch. */
  setReadBudget(packets: number): void;
  /** Bytes written, or -errno. */
  write(packet: Uint8Array): number;
  /**
   * How many of `count` packets were tried; packet i is
   * buffers[d[3i]][d[3i+1], d[3i+1] + d[3i+2]). Results go to the shared Int32Array.
   */
  writeViews(buffers: readonly Uint8Array[], descriptors: Float64Array, count: number): number;
  /** writeViews for packets given as [offset, length] pairs into one buffer. */
  writeSlab(buffer: Uint8Array, descriptors: Uint32Array, start: number, count: number): number;
  waitWritable(): void;
  /**
   * Stops the reader thread; with `deliver` (and not from inside onRead) its
   * batches go to onRead first. [packets, bytes] discarded; undefined without a thread.
   */
  stopReader(deliver: boolean): [number, number] | undefined;
  ref(): void;
  unref(): void;
  /** Without `done` the fd is closed at once; with it, on the thread pool, then done(errno). */
  close(done?: (errno: number) => void): void;
}

/**
 * An fd between the kernel and its handle; see src/owned_fd.h. Closed at
 * garbage collection or the environment's teardown unless a handle took it.
 */
export interface NativeOwnedFd {
  /** -1 once closed or taken. */
  readonly fd: number;
  /** Without `done` the fd is closed at once; with it, on the thread pool, then done(errno). */
  close(done?: (errno: number) => void): void;
}

export interface NativeTunHandleConstructor {
  /** Takes `fd` over, even if it throws (but for EEXIST: another handle holds that fd). */
  new (
    fd: NativeOwnedFd,
    maxPacketSize: number,
    maxBatch: number,
    writeResults: Int32Array,
    /** descriptors: [offset, length] pairs; the same array batch after batch unless user code detached it. */
    onRead: (slab: Buffer, descriptors: Uint32Array, count: number, bytes: number) => void,
    onWritable: () => void,
    onError: (errno: number, syscall: string) => void,
    /** Read on a native thread of its own (src/reader_thread.h)... */
    readerThread: boolean,
    /** ...pinned to this CPU; -1: not pinned. */
    readerCpu: number,
  ): NativeTunHandle;
}

/** A NETLINK_ROUTE socket on a uv_poll; see src/netlink_socket.h. */
export interface NativeNetlinkSocket {
  readonly fd: number;
  /** The port id the kernel gave the socket; replies to it carry it in nlmsg_pid. */
  readonly portId: number;
  /** Bytes sent, or -errno. */
  send(request: Uint8Array): number;
  /** The receive buffer the kernel granted, in bytes of messages. */
  readonly receiveBufferSize: number;
  ref(): void;
  unref(): void;
  close(): void;
}

/** A bound NETLINK_ROUTE socket nobody wraps yet. */
export interface CreatedNetlinkSocket {
  fd: NativeOwnedFd;
  portId: number;
}

export interface NativeNetlinkSocketConstructor {
  /** Makes and binds the socket on the thread pool; `netns`: a NetnsFile's fd, a path, or '' / absent for ours. */
  open(groups: number, receiveBufferSize: number, netns?: NetnsTarget): Promise<CreatedNetlinkSocket>;
  /** The same on the JS thread (a setns() pair with `netns`). */
  openSync(groups: number, receiveBufferSize: number, netns?: NetnsTarget): CreatedNetlinkSocket;
  /** Wraps a socket from open(); takes `fd` over, even if it throws. */
  new (
    fd: NativeOwnedFd,
    portId: number,
    onData: (batch: Buffer, lengths: number[]) => void,
    onError: (errno: number, syscall: string) => void,
  ): NativeNetlinkSocket;
}

/** A non-blocking UDP socket on a uv_poll, carrying datagrams in batches; see src/udp_socket.h. */
export interface NativeUdpSocket {
  readonly fd: number;
  /** The port the socket is bound to (0 once closed). */
  readonly localPort: number;
  /** Why the last sendBatch() handled fewer than it was given (a positive errno; EAGAIN: buffer full). */
  readonly lastError: number;
  /** Datagrams received larger than maxDatagram, dropped. */
  readonly truncated: number;
  /**
   * Sends datagrams start..start+count-1 of buffer/descriptors (pairs); headers and
   * peerIndex start at datagram `start`; returns how many were handled. `coalesce`
   * (segmentSize 0): runs to one peer of one length go as single UDP_SEGMENT sends.
   */
  sendBatch(
    buffer: Uint8Array,
    descriptors: Uint32Array,
    start: number,
    count: number,
    headers: Uint8Array | null,
    peers: Uint8Array,
    peerIndex: Uint16Array | null,
    segmentSize: number | Uint16Array,
    coalesce?: boolean,
  ): number;
  /** sendBatch() messages that carried several datagrams of a `coalesce` run (UDP_SEGMENT). */
  readonly gsoMessages: number;
  /** One peer (a 28-byte sockaddr) from now on: sends ignore `peers`, and only it is heard. Throws. */
  connect(peer: Uint8Array): void;
  /**
   * From now on, datagrams go straight into a dup of device fd `fd` (-1: stop
   * and close the dup); onData sees only what follows a write error but EAGAIN.
   */
  deliverTo(fd: number, maxPacket: number): void;
  /** What deliverTo() did: [packets, bytes, short, tooBig, deviceFull]. */
  readonly delivered: [number, number, number, number, number];
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeUdpSocketConstructor {
  /** socket() + bind(); the fd is the caller's until a UdpSocket takes it. */
  open(family: 4 | 6, address: string, port: number, receiveBuffer: number, sendBuffer: number): { fd: number; port: number };
  /** SO_TYPE, the family (0: neither) and bound port of a socket; `fd`: a CLOEXEC dup of it when `dup`. Throws. */
  inspect(fd: number, dup: boolean): { type: number; domain: 0 | 4 | 6; port: number; fd: number };
  /**
   * Packets read from an offload device (virtio_net_hdr first) cut into plain IP packets, as
   * splitGso() does, `gap` zeroed bytes before each; group[i]: the packet segment i came from.
   */
  segment(
    slab: Uint8Array,
    descriptors: Uint32Array,
    count: number,
    gap: number,
  ): { buffer: Buffer; descriptors: Uint32Array; group: Uint32Array; count: number; malformed: number };
  /** Owns `fd` from then on, even if it throws. */
  new (
    fd: number,
    maxDatagram: number,
    maxBatch: number,
    headerLength: number,
    gro: boolean,
    onData: (
      batch: Buffer,
      descriptors: Uint32Array,
      count: number,
      headers: Buffer | null,
      addresses: Buffer,
      segments: Uint32Array,
    ) => void,
    onError: (errno: number, syscall: string) => void,
  ): NativeUdpSocket;
}

/** A network namespace held open; see src/netns.h. `fd` is -1 once closed. */
export interface NativeNetnsFile {
  readonly fd: number;
  close(): void;
}

/** Where a native call acts: a NetnsFile's fd, a namespace path, or '' for ours. */
export type NetnsTarget = number | string;

export interface NativeConstants {
  readonly IFF_TUN: number;
  readonly IFF_TAP: number;
  readonly IFF_NO_PI: number;
  readonly IFF_MULTI_QUEUE: number;
  readonly IFF_VNET_HDR: number;
  readonly IFF_PERSIST: number;
  readonly IFF_NAPI: number;
  readonly IFF_NAPI_FRAGS: number;
  readonly IFNAMSIZ: number;
}

/** TUNSETOFFLOAD flags; see src/tun_offload.cc. */
export interface NativeOffloadConstants {
  readonly TUN_F_CSUM: number;
  readonly TUN_F_TSO4: number;
  readonly TUN_F_TSO6: number;
  readonly TUN_F_TSO_ECN: number;
  readonly TUN_F_USO4: number;
  readonly TUN_F_USO6: number;
}

export interface NativeBinding {
  /** TUNSETVNETHDRSZ + TUNSETVNETLE; throws. */
  setVnetHeader(fd: number, size: number): void;
  /** TUNSETOFFLOAD: 0 or -errno. */
  setOffload(fd: number, flags: number): number;
  readonly offloadConstants: NativeOffloadConstants;
  /**
   * On the thread pool, in `netns` (an fd, a path, or '' for ours). options: [owner, group,
   * sendBufferSize, persist], -1 each to leave it. offloads: the device's TUN_F_* flags (-errno: unread).
   */
  openTun(
    path: string,
    name: string,
    flags: number,
    netns?: NetnsTarget,
    options?: [number, number, number, number],
  ): Promise<{ fd: NativeOwnedFd; name: string; flags: number; index: number; offloads: number }>;
  /** glibc's strerror (lib/internal/errno.ts has the same words in JavaScript; a test compares them). */
  strerror(errno: number): string;
  readonly constants: NativeConstants;
  // src/tun_ioctl.cc: one ioctl on a queue fd, on the thread pool (on a dup of the fd).
  tunIoctl(fd: number, op: number, arg?: number, program?: Uint8Array): Promise<unknown>;
  readonly ioctlOps: {
    readonly getIff: number;
    readonly setPersist: number;
    readonly setOwner: number;
    readonly setGroup: number;
    readonly setSndBuf: number;
    readonly getSndBuf: number;
    readonly setQueue: number;
    readonly attachFilter: number;
    readonly detachFilter: number;
  };
  /** TUNGETDEVNETNS: an fd for the namespace of the queue's device, or -1 when it is ours. */
  tunDeviceNetns(fd: number): number;
  /** TUNGETIFF at once (fromFd must know what an fd is before changing anything). */
  tunGetIff(fd: number): { name: string; flags: number };
  /** Whether a TunHandle in this process (any thread) holds fd. */
  tunFdInUse(fd: number): boolean;
  /** O_NONBLOCK and FD_CLOEXEC on an fd we did not open. */
  adoptFd(fd: number): void;
  readonly TunHandle: NativeTunHandleConstructor;
  readonly NetlinkSocket: NativeNetlinkSocketConstructor;
  /** Owns an fd from elsewhere (fromFd) until a TunHandle takes it. */
  readonly OwnedFd: new (fd: number) => NativeOwnedFd;
  readonly UdpSocket: NativeUdpSocketConstructor;
  /** A path to open, or a namespace fd this process owns (taken over). */
  readonly NetnsFile: new (pathOrFd: string | number) => NativeNetnsFile;
}

export { isNativeErrnoError, type NativeErrnoError } from './errors';

/** Where the package's root is: three levels above dist/lib/internal. */
const packageRoot = path.join(__dirname, '..', '..', '..');

const rebuildHint =
  'Build it from source with `npm rebuild tuntap-ts` (needs g++, make and python3: ' +
  'on Debian/Ubuntu `apt-get install g++ make python3`, on Alpine `apk add g++ make python3`)';

/**
 * Why this runtime cannot run the core (undefined when it can), asked before loading the addon:
 * Bun aborts at uv_poll_init, and Deno lacks uv_fs_close (the process dies at the first close).
 */
export function unsupportedRuntime(
  versions: Readonly<Record<string, string | undefined>>,
  global: object = globalThis,
): string | undefined {
  if (versions.bun !== undefined) {
    return `Bun ${versions.bun} does not implement the libuv functions the native core drives its devices with (uv_poll_init aborts the process); run tuntap-ts under Node.js`;
  }
  if (versions.deno !== undefined || 'Deno' in global) {
    return `Deno${versions.deno === undefined ? '' : ` ${versions.deno}`} does not implement the libuv functions the native core needs (uv_fs_close, which closing a device calls, is missing and ends the process); run tuntap-ts under Node.js`;
  }
  return undefined;
}

/**
 * The C library this Node runs on. Node's report names glibc's version only
 * when glibc runs it; any other Linux libc is taken for musl, the one other
 * libc Node is built for.
 */
export function libcOf(reportHeader: { glibcVersionRuntime?: unknown } | undefined): 'glibc' | 'musl' {
  return typeof reportHeader?.glibcVersionRuntime === 'string' ? 'glibc' : 'musl';
}

/**
 * `file` as node-gyp-build picked it, moved to the prebuild for `libc` when
 * it picked the other one: it takes musl for Alpine only (/etc/alpine-release
 * or LIBC=musl), and would hand a glibc binary to Void or Chimera Linux.
 */
export function prebuildForLibc(
  file: string,
  libcNow: () => 'glibc' | 'musl',
  exists: (file: string) => boolean = existsSync,
): string {
  const tagged = /\.(glibc|musl)\.node$/.exec(file);
  if (tagged === null) return file;
  const libc = libcNow();
  if (tagged[1] === libc) return file;
  const wanted = `${file.slice(0, tagged.index)}.${libc}.node`;
  if (exists(wanted)) return wanted;
  return failWith(ENOENT, {
    path: wanted,
    hint: `This Node runs on ${libc}, and tuntap-ts has no prebuilt addon for ${libc} on ${process.arch}. ${rebuildHint}`,
  });
}

/**
 * Finds and loads the addon, or says in a TunError why it cannot. Only at first use, so importing
 * the package never throws (the packet helpers need no addon, on any platform).
 */
function loadBinding(): NativeBinding {
  if (process.platform !== 'linux') {
    return failWith(ENOTSUP, {
      hint: `TUN/TAP devices and rtnetlink exist on Linux only, and tuntap-ts supports Linux only (this is ${process.platform})`,
    });
  }
  const runtime = unsupportedRuntime(process.versions);
  if (runtime !== undefined) return failWith(ENOTSUP, { hint: runtime });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  // TUNTAP_NATIVE_PATH names another build of the addon to load instead (the
  // sanitizer build of scripts/asan.js), leaving build/Release alone.
  const override = process.env.TUNTAP_NATIVE_PATH;
  let file: string;
  try {
    // node-gyp-build prefers build/Release (a local compile), then
    // prebuilds/<platform>-<arch>/ with the tags that match this libc.
    file = override ? path.resolve(override) : gypBuild.resolve(packageRoot);
  } catch (error) {
    const what = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return failWith(ENOENT, {
      path: packageRoot,
      hint: `The native part of tuntap-ts is missing: no compiled addon in build/Release and no prebuilt one for this system (${what.replace(/^No native build was found for /, '')}). ${rebuildHint}`,
    });
  }
  // LIBC set: node-gyp-build followed it, and so do we.
  if (!override && process.env.LIBC === undefined) file = prebuildForLibc(file, () => libcOf(reportHeader()));
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding;
  } catch (error) {
    // process.dlopen's reason: "invalid ELF header", "wrong ELF class",
    // a missing library or symbol version (a glibc older than the binary's).
    const reason = error instanceof Error ? error.message : String(error);
    // A file that is not there (TUNTAP_NATIVE_PATH naming nothing) is not a bad binary.
    const missing = (error as { code?: unknown }).code === 'MODULE_NOT_FOUND';
    return failWith(missing ? ENOENT : ENOEXEC, {
      path: file,
      hint: `The native part of tuntap-ts failed to load: ${reason}. ${rebuildHint}`,
    });
  }
}

function reportHeader(): { glibcVersionRuntime?: unknown } | undefined {
  // Without the network interfaces: the header is all that is read here.
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  if (report === undefined) return undefined;
  const exclude = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    return (report.getReport() as { header?: { glibcVersionRuntime?: unknown } }).header;
  } finally {
    report.excludeNetwork = exclude;
  }
}

function failWith(errno: number, context: ErrorContext): never {
  throw new TunError(errno, 'dlopen', context);
}

let loaded: NativeBinding | undefined;

/**
 * The addon, loaded on first call. A failure is not remembered: each call
 * tries again and throws a fresh TunError, so `npm rebuild` in another shell
 * is picked up by the next open.
 */
export function binding(): NativeBinding {
  loaded ??= loadBinding();
  return loaded;
}

/**
 * The addon, loaded (or the loader's TunError thrown) at first property access; only open and
 * configure paths get here, as per-packet calls go to a handle object.
 */
export const native: NativeBinding = new Proxy({} as NativeBinding, {
  get: (_target, key) => Reflect.get(binding(), key),
});
