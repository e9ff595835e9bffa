// Capture files in the classic pcap format (what tcpdump -w writes and
// tcpdump -r, Wireshark and every other tool read): a 24-byte file header
// naming the link type, then a 16-byte record header before each packet.
import type { Writable } from 'node:stream';
import { invalidType } from '../internal/errors';
import {
  validateBoolean,
  validateBytes,
  validateInteger,
  validateNumber,
  validateObject,
  validateOneOf,
} from '../internal/validators';
import type { TunMode } from '../device/options';

/** Link type of Ethernet frames (TAP devices). */
export const LINKTYPE_ETHERNET = 1;
/** Link type of bare IPv4/IPv6 packets (TUN devices with packetInfo off). */
export const LINKTYPE_RAW = 101;

const MAGIC_MICROSECONDS = 0xa1b2c3d4;
const DEFAULT_SNAP_LENGTH = 262144;
/** The latest time a record can hold: its seconds are an unsigned 32-bit field. */
const MAX_TIME_MS = 0xffffffff * 1000 + 999;
const MODES: readonly TunMode[] = ['tun', 'tap'];

/**
 * What a capture needs to know of a device (a TunDevice has all of it): what
 * its packets are, and which headers the kernel puts in front of them.
 */
export interface PcapSource {
  readonly mode: TunMode;
  /** The 4-byte packet information header is in front of every packet. */
  readonly packetInfo?: boolean;
  /** With offloads, a virtio_net_hdr of this size is in front of every packet. */
  readonly offload?: { readonly headerSize: number } | null;
}

/**
 * The link type for packets read from a device: LINKTYPE_RAW (101) for TUN, LINKTYPE_ETHERNET (1)
 * for TAP. None describes a packet information or virtio_net_hdr header, so write packets without
 * it ({@link PcapWriter.forDevice} strips {@link pcapHeaderLength} bytes).
 *
 * ```ts
 * const linkType = pcapLinkType(dev); // 101 for TUN, 1 for TAP
 * ```
 */
export function pcapLinkType(source: TunMode | PcapSource): number {
  return checkSource(source).mode === 'tap' ? LINKTYPE_ETHERNET : LINKTYPE_RAW;
}

/** The bytes in front of every packet a device reads that no pcap link type covers. */
export function pcapHeaderLength(source: TunMode | PcapSource): number {
  return checkSource(source).headerLength;
}

/** A mode, or a device's mode and the bytes of headers in front of its packets. */
function checkSource(source: unknown): { mode: TunMode; headerLength: number } {
  if (typeof source === 'string') return { mode: validateOneOf(source, 'source', MODES), headerLength: 0 };
  const s = validateObject(source, 'source');
  const mode = validateOneOf(s.mode, 'source.mode', MODES);
  const packetInfo = validateBoolean(s.packetInfo, 'source.packetInfo', false);
  let offload = 0;
  if (s.offload !== undefined && s.offload !== null) {
    offload = validateInteger(validateObject(s.offload, 'source.offload').headerSize, 'source.offload.headerSize', 0, 0xffff);
  }
  return { mode, headerLength: (packetInfo ? 4 : 0) + offload };
}

function checkSnapLength(snapLength: unknown): number {
  return validateInteger(snapLength, 'snapLength', 1, 0x7fffffff);
}

/**
 * The 24-byte pcap file header: version 2.4, microsecond timestamps,
 * little-endian (readers tell the byte order from the magic number).
 *
 * ```ts
 * fs.writeFileSync('out.pcap', pcapFileHeader(LINKTYPE_RAW));
 * ```
 */
export function pcapFileHeader(linkType: number, snapLength = DEFAULT_SNAP_LENGTH): Buffer {
  validateInteger(linkType, 'linkType', 0, 0xffffffff);
  checkSnapLength(snapLength);
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
export function pcapRecord(packet: Uint8Array, timeMs: number, snapLength = DEFAULT_SNAP_LENGTH): Buffer {
  validateBytes(packet, 'packet');
  validateNumber(timeMs, 'timeMs', 0, MAX_TIME_MS);
  checkSnapLength(snapLength);
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
  #skip = 0;
  /** Packets written so far. */
  packets = 0;

  /** Writes the file header at once; `linkType` from {@link pcapLinkType}; packets longer than `snapLength` are cut. */
  constructor(output: Writable, linkType: number, snapLength = DEFAULT_SNAP_LENGTH) {
    if (output === null || typeof output !== 'object' || typeof output.write !== 'function' || typeof output.end !== 'function')
      throw invalidType('output', 'a writable stream', output);
    const header = pcapFileHeader(linkType, snapLength);
    this.#output = output;
    this.#snapLength = snapLength;
    output.write(header);
  }

  /**
   * A writer for what `device` reads: its link type, and the packet
   * information or virtio_net_hdr header taken off every packet.
   *
   * ```ts
   * const dev = await TunDevice.open({ packetInfo: true });
   * const pcap = PcapWriter.forDevice(fs.createWriteStream('tun0.pcap'), dev);
   * dev.readable.on('data', (packet: Buffer) => pcap.write(packet));
   * ```
   */
  static forDevice(output: Writable, device: PcapSource, snapLength = DEFAULT_SNAP_LENGTH): PcapWriter {
    const { headerLength } = checkSource(validateObject(device, 'device'));
    const writer = new PcapWriter(output, pcapLinkType(device), snapLength);
    writer.#skip = headerLength;
    return writer;
  }

  /** Appends one packet, stamped now (or at `timeMs`). Returns the stream's write() result, for backpressure. */
  write(packet: Uint8Array, timeMs: number = performance.timeOrigin + performance.now()): boolean {
    validateBytes(packet, 'packet');
    const body = this.#skip === 0 ? packet : packet.subarray(Math.min(this.#skip, packet.length));
    const record = pcapRecord(body, timeMs, this.#snapLength);
    this.packets++;
    return this.#output.write(record);
  }

  /** Ends the stream; resolves once everything is flushed (a file: closed). */
  async end(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#output.once('error', reject);
      this.#output.end(() => resolve());
    });
  }
}
