// The typed face of the native addon (src/). Only this file loads it.
import path from 'node:path';

/** A TUN/TAP queue fd driven by libuv; see src/tun_handle.h. */
export interface NativeTunHandle {
  readonly fd: number;
  startReading(): void;
  stopReading(): void;
  /** On: every batch is read into the start of the same slab (JS keeps no views). */
  setSlabReuse(on: boolean): void;
  /** Bytes written, or -errno. */
  write(packet: Uint8Array): number;
  /** How many of packets[start, start+count) were tried; results go to the shared Int32Array. */
  writeBatch(packets: readonly Uint8Array[], start: number, count: number): number;
  /** writeBatch for packets given as [offset, length] pairs into one buffer. */
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
    descriptors: Uint32Array,
    writeResults: Int32Array,
    onRead: (slab: Buffer, count: number) => void,
    onWritable: () => void,
    onError: (errno: number, syscall: string) => void,
  ): NativeTunHandle;
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

export interface NativeBinding {
  openTun(path: string, name: string, flags: number): { fd: number; name: string; flags: number };
  interfaceMtu(name: string): number;
  interfaceIndex(name: string): number;
  strerror(errno: number): string;
  readonly constants: NativeConstants;
  readonly TunHandle: NativeTunHandleConstructor;
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
