// Capture files in the classic pcap format (what tcpdump -w writes and
// tcpdump -r, Wireshark and every other tool read): a 24-byte file header
// naming the link type, then a 16-byte record header before each packet.
import type { Writable } from 'node:stream';
import { outOfRange } from '../internal/errors';
import type { TunMode } from '../device/options';

/** Link type of Ethernet frames (TAP devices). */
export const LINKTYPE_ETHERNET = 1;
/** Link type of bare IPv4/IPv6 packets (TUN devices with packetInfo off). */
export const LINKTYPE_RAW = 101;

const MAGIC_MICROSECONDS = 0xa1b2c3d4;

/**
 * The link type for packets read from a device in `mode`.
 *
 * ```ts
 * const linkType = pcapLinkType(dev.mode); // 101 for TUN, 1 for TAP
 * ```
 */
export function pcapLinkType(mode: TunMode): number {
  return mode === 'tap' ? LINKTYPE_ETHERNET : LINKTYPE_RAW;
}

/**
 * The 24-byte pcap file header: version 2.4, microsecond timestamps,
 * little-endian (readers tell the byte order from the magic number).
 *
 * ```ts
 * fs.writeFileSync('out.pcap', pcapFileHeader(LINKTYPE_RAW));
 * ```
 */
export function pcapFileHeader(linkType: number, snapLength = 262144): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(MAGIC_MICROSECONDS, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  // thiszone and sigfigs stay 0, as every modern writer leaves them.
  h.writeUInt32LE(snapLength, 16);
  h.writeUInt32LE(linkType, 20);
  return h;
}

/**
 * One record: the 16-byte header and the packet, cut to `snapLength` bytes.
 * `timeMs` is milliseconds since the epoch, fractions kept to the microsecond.
 *
 * ```ts
 * fs.appendFileSync('out.pcap', pcapRecord(packet, Date.now()));
 * ```
 */
export function pcapRecord(packet: Uint8Array, timeMs: number, snapLength = 262144): Buffer {
  const captured = Math.min(packet.length, snapLength);
  const r = Buffer.allocUnsafe(16 + captured);
  const micros = Math.round(timeMs * 1000);
  r.writeUInt32LE(Math.floor(micros / 1e6), 0);
  r.writeUInt32LE(micros % 1e6, 4);
  r.writeUInt32LE(captured, 8);
  r.writeUInt32LE(packet.length, 12);
  r.set(packet.subarray(0, captured), 16);
  return r;
}

/**
 * Writes packets as a pcap capture to a stream (a file, a pipe to
 * `tcpdump -r -`).
 *
 * ```ts
 * const pcap = new PcapWriter(fs.createWriteStream('tun0.pcap'), pcapLinkType(dev.mode));
 * dev.readable.on('data', (packet: Buffer) => pcap.write(packet));
 * // ...
 * await pcap.end();
 * ```
 */
export class PcapWriter {
  readonly #output: Writable;
  readonly #snapLength: number;
  /** Packets written so far. */
  packets = 0;

  /** Writes the file header at once; `linkType` from {@link pcapLinkType}; packets longer than `snapLength` are cut. */
  constructor(output: Writable, linkType: number, snapLength = 262144) {
    if (!Number.isInteger(snapLength) || snapLength < 1 || snapLength > 0x7fffffff)
      throw outOfRange('snapLength', '>= 1 and <= 2147483647', snapLength);
    this.#output = output;
    this.#snapLength = snapLength;
    output.write(pcapFileHeader(linkType, snapLength));
  }

  /** Appends one packet, stamped now (or at `timeMs`). Returns the stream's write() result, for backpressure. */
  write(packet: Uint8Array, timeMs: number = performance.timeOrigin + performance.now()): boolean {
    this.packets++;
    return this.#output.write(pcapRecord(packet, timeMs, this.#snapLength));
  }

  /** Ends the stream; resolves once everything is flushed (a file: closed). */
  async end(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#output.once('error', reject);
      this.#output.end(() => resolve());
    });
  }
}
