// `readable` as a user sees it: Node's Readable types its chunks as `any`;
// a device's readable gives one Buffer per packet, and says so. Each 'data'
// overload is followed by Readable's own catch-all overload, unchanged (its
// `any[]` is @types/node's): without it a PacketReadable would not be
// assignable to Readable, and pipeline() and friends would refuse it.
import type { Readable } from 'node:stream';

/**
 * The packets read from a device, one Buffer per chunk.
 *
 * ```ts
 * dev.readable.on('data', (packet) => console.log(packet.length)); // packet: Buffer
 * for await (const packet of dev.readable) handle(packet);         // packet: Buffer
 * ```
 */
export interface PacketReadable extends Readable {
  read(size?: number): Buffer | null;
  addListener(event: 'data', listener: (packet: Buffer) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  on(event: 'data', listener: (packet: Buffer) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'data', listener: (packet: Buffer) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener(event: 'data', listener: (packet: Buffer) => void): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener(event: 'data', listener: (packet: Buffer) => void): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
  [Symbol.asyncIterator](): NodeJS.AsyncIterator<Buffer>;
}
