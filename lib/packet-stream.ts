// `readable` as a user sees it: Node's Readable types its chunks as `any`;
// a device's readable gives one Buffer per packet, and says so. Each 'data'
// overload is followed by Readable's catch-all overload for the other events
// (its `any[]` is @types/node's): without it a PacketReadable would not be
// assignable to Readable, and pipeline() and friends would refuse it. The
// catch-all excludes 'data', or a listener taking a string would match it.
import type { Readable } from 'node:stream';

/** Any event name but 'data'. */
type OtherThanData<E> = E extends 'data' ? never : E;

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
  addListener<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  on(event: 'data', listener: (packet: Buffer) => void): this;
  on<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  once(event: 'data', listener: (packet: Buffer) => void): this;
  once<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  prependListener(event: 'data', listener: (packet: Buffer) => void): this;
  prependListener<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  prependOnceListener(event: 'data', listener: (packet: Buffer) => void): this;
  prependOnceListener<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  [Symbol.asyncIterator](): NodeJS.AsyncIterator<Buffer>;
}
