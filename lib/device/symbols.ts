import type { StateError, TunError } from '../internal/errors';
import type { DropContext } from './stats';

// The entry points the streams call on their device. Symbols, so they are
// neither public names nor in the emitted types.
export const kStartReading = Symbol('startReading');
export const kStopReading = Symbol('stopReading');
export const kWrite = Symbol('write');
export const kWritev = Symbol('writev');
export const kBatchReading = Symbol('batchReading');
export const kWriteFailed = Symbol('writeFailed');

/** What a device's read and write sides ask of the device itself. */
export interface DeviceCore extends DropContext {
  readonly name: string;
  readonly maxPacketSize: number;
  /** Whether the fd is gone (or going); user code run meanwhile may have closed it. */
  isClosed(): boolean;
  /** Throws ERR_DEVICE_CLOSED, naming `what`, once the fd is gone. */
  assertOpen(what: string): void;
  /** Closes the device at once with a fatal error. */
  destroy(error: Error): void;
  /** Whether anyone listens for 'drop'. */
  hasDropListener(): boolean;
  emitDrop(packet: Buffer, error: TunError | StateError): void;
}

/** What `readable` asks of its device. */
export interface ReadSide {
  /** Whether readBatches() owns the read side. */
  readonly [kBatchReading]: boolean;
  [kStartReading](): void;
  [kStopReading](): void;
}

/**
 * What `writable` asks of its device. Writes are numbered in the order they
 * were made (`first` is the number of chunks[0]); the device names a write
 * that failed alone by its number, to `writable`'s [kWriteFailed].
 */
export interface WriteSide {
  readonly maxPacketSize: number;
  [kWrite](packet: Uint8Array, number: number, callback: (error?: Error | null) => void): void;
  [kWritev](chunks: ReadonlyArray<{ chunk: Uint8Array }>, first: number, callback: (error?: Error | null) => void): void;
}
