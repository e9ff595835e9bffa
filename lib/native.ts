// The typed face of the native addon (src/). Only this file loads it.
import path from 'node:path';

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
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeTunHandleConstructor {
  new (
    fd: number,
    maxPacketSize: number,
    maxBatch: number,
    writeResults: Int32Array,
    /** descriptors: [offset, length] pairs; the same array batch after batch unless user code detached it. */
    onRead: (slab: Buffer, descriptors: Uint32Array, count: number) => void,
    onWritable: () => void,
    onError: (errno: number, syscall: string) => void,
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

export interface NativeNetlinkSocketConstructor {
  new (
    groups: number,
    receiveBufferSize: number,
    onData: (batch: Buffer, lengths: number[]) => void,
    onError: (errno: number, syscall: string) => void,
    /** A namespace file to create the socket in ('' or absent: ours). */
    netns?: string,
  ): NativeNetlinkSocket;
}

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
  /** netns: a namespace file to open the device in ('' or absent: ours). */
  openTun(path: string, name: string, flags: number, netns?: string): { fd: number; name: string; flags: number; index: number };
  interfaceMtu(name: string, netns?: string): number;
  interfaceIndex(name: string): number;
  strerror(errno: number): string;
  readonly constants: NativeConstants;
  // src/tun_ioctl.cc: one ioctl each on a queue fd.
  tunGetIff(fd: number): { name: string; flags: number };
  tunSetPersist(fd: number, on: boolean): void;
  tunSetOwner(fd: number, uid: number): void;
  tunSetGroup(fd: number, gid: number): void;
  tunSetSndBuf(fd: number, bytes: number): void;
  tunGetSndBuf(fd: number): number;
  tunSetQueue(fd: number, attach: boolean): void;
  tunAttachFilter(fd: number, program: Uint8Array): void;
  tunDetachFilter(fd: number): void;
  /** Whether a TunHandle in this process (any thread) holds fd. */
  tunFdInUse(fd: number): boolean;
  /** O_NONBLOCK and FD_CLOEXEC on an fd we did not open. */
  adoptFd(fd: number): void;
  readonly TunHandle: NativeTunHandleConstructor;
  readonly NetlinkSocket: NativeNetlinkSocketConstructor;
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

// node-gyp-build prefers build/Release (a local compile) and falls back to
// prebuilds/<platform>-<arch>; the package root is two levels above dist/lib.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;
export const native = load(path.join(__dirname, '..', '..')) as NativeBinding;
