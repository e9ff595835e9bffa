// The entry points the streams call on their device. Symbols, so they are
// neither public names nor in the emitted types.
export const kStartReading = Symbol('startReading');
export const kStopReading = Symbol('stopReading');
export const kWrite = Symbol('write');
export const kWritev = Symbol('writev');
export const kBatchReading = Symbol('batchReading');

/** What `readable` asks of its device. */
export interface ReadSide {
  /** Whether readBatches() owns the read side. */
  readonly [kBatchReading]: boolean;
  [kStartReading](): void;
  [kStopReading](): void;
}

/** What `writable` asks of its device. */
export interface WriteSide {
  readonly maxPacketSize: number;
  [kWrite](packet: Uint8Array, callback: (error?: Error | null) => void): void;
  [kWritev](chunks: ReadonlyArray<{ chunk: Uint8Array }>, callback: (error?: Error | null) => void): void;
}
