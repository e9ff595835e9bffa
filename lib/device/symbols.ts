// The entry points the streams call on their device. Symbols, so they are
// neither public names nor in the emitted types.
export const kStartReading = Symbol('startReading');
export const kStopReading = Symbol('stopReading');
export const kWrite = Symbol('write');
export const kWritev = Symbol('writev');
export const kBatchReading = Symbol('batchReading');
export const kWriteFailed = Symbol('writeFailed');

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
