// `readable` typed as one Buffer per packet. Each 'data' overload is followed by Readable's
// catch-all, which excludes 'data': without it pipeline() would refuse a PacketReadable; with
// 'data' in it, a listener taking a string would match.
/* eslint-disable @typescript-eslint/no-explicit-any -- the catch-all overloads repeat @types/node's Readable, `any[]` and all */
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
  /** The next packet, or null when none is buffered. */
  read(size?: number): Buffer | null;
  /** A listener for each packet read. */
  addListener(event: 'data', listener: (packet: Buffer) => void): this;
  /** A listener for another of Readable's events ('end', 'close', 'error', ...). */
  addListener<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  /** A listener for each packet read. */
  on(event: 'data', listener: (packet: Buffer) => void): this;
  /** A listener for another of Readable's events ('end', 'close', 'error', ...). */
  on<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  /** A listener for each packet read. */
  once(event: 'data', listener: (packet: Buffer) => void): this;
  /** A listener for another of Readable's events ('end', 'close', 'error', ...). */
  once<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  /** A listener for each packet read. */
  prependListener(event: 'data', listener: (packet: Buffer) => void): this;
  /** A listener for another of Readable's events ('end', 'close', 'error', ...). */
  prependListener<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  /** A listener for each packet read. */
  prependOnceListener(event: 'data', listener: (packet: Buffer) => void): this;
  /** A listener for another of Readable's events ('end', 'close', 'error', ...). */
  prependOnceListener<E extends string | symbol>(event: OtherThanData<E>, listener: (...args: any[]) => void): this;
  /** The packets, one Buffer at a time. */
  [Symbol.asyncIterator](): NodeJS.AsyncIterator<Buffer>;
}
