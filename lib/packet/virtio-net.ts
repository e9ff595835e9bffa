// The virtio_net_hdr (include/uapi/linux/virtio_net.h) in front of every packet
// read from or written to a device opened with offloads; the device keeps its
// fields little-endian (TUNSETVNETLE), as these helpers read and write them.
import { toBuffer } from '../internal/bytes';
import { outOfRange } from '../internal/errors';
import { validateBoolean, validateBytes, validateInteger, validateObject, validateOneOf } from '../internal/validators';

/** Size of the header on a device opened with `offload`: the 10-byte struct virtio_net_hdr. */
export const VIRTIO_NET_HDR_SIZE = 10;
/** Size of struct virtio_net_hdr_mrg_rxbuf: the 10-byte header plus num_buffers. */
export const VIRTIO_NET_HDR_MRG_RXBUF_SIZE = 12;

/** Bits of {@link VirtioNetHeader.flags}. */
export const VirtioNetFlags = {
  /** The checksum at csumStart + csumOffset holds only the pseudo-header sum: the rest is to be done. */
  NEEDS_CSUM: 1,
  /** The checksum was already verified (by whoever wrote the packet). */
  DATA_VALID: 2,
} as const;

/** Values of {@link VirtioNetHeader.gsoType} (without the ECN bit, which is {@link VirtioNetHeader.ecn}). */
export const GsoType = {
  /** A single packet, not a super-packet. */
  NONE: 0,
  /** An IPv4 TCP super-packet to be cut into gsoSize-byte segments. */
  TCPV4: 1,
  /** Legacy UDP fragmentation offload (UFO); no longer produced by Linux. */
  UDP: 3,
  /** An IPv6 TCP super-packet. */
  TCPV6: 4,
  /** A UDP super-packet (IPv4 or IPv6) cut into gsoSize-byte datagrams (USO). */
  UDP_L4: 5,
} as const;

/** One of the {@link GsoType} values. */
export type GsoTypeValue = (typeof GsoType)[keyof typeof GsoType];

/** The ECN bit of the raw gso_type byte: the TCP super-packet carries CWR. */
export const GSO_ECN = 0x80;

/**
 * A virtio_net_hdr, field by field.
 *
 * ```ts
 * const h = parseVirtioNetHeader(packet);
 * if (h !== null && h.gsoType === GsoType.TCPV4) console.log(`super-packet of ${h.gsoSize}-byte segments`);
 * ```
 */
export interface VirtioNetHeader {
  /** Bit set of {@link VirtioNetFlags}. */
  flags: number;
  /** What kind of super-packet this is; {@link GsoType}.NONE for a plain packet. */
  gsoType: GsoTypeValue;
  /** The ECN bit of gso_type (TCP segmentation must keep CWR on the first segment only). */
  ecn: boolean;
  /**
   * Bytes of headers (IP + TCP/UDP). Only a hint: Linux reports its linear
   * head length here, which may be more than the headers.
   */
  hdrLen: number;
  /** Payload bytes per segment (the MSS) of a super-packet; 0 otherwise. */
  gsoSize: number;
  /** Where, from the start of the packet after this header, checksumming starts (with NEEDS_CSUM). */
  csumStart: number;
  /** Where, from csumStart, the 16-bit checksum field is. */
  csumOffset: number;
  /** The 12-byte header's num_buffers; 0 in a 10-byte header. */
  numBuffers: number;
}

const HEADER_SIZES = [VIRTIO_NET_HDR_SIZE, VIRTIO_NET_HDR_MRG_RXBUF_SIZE] as const;

/** A header size argument: 10 or 12 (the two structs the kernel knows). */
export function validateHeaderSize(size: unknown, name = 'size'): 10 | 12 {
  return validateOneOf(size, name, HEADER_SIZES);
}

function isGsoType(value: number): value is GsoTypeValue {
  return value === 0 || value === 1 || value === 3 || value === 4 || value === 5;
}

/**
 * Reads the header at the start of `packet`; null when the packet is shorter
 * than `size` or the gso_type is not one Linux defines.
 *
 * ```ts
 * dev.readable.on('data', (p: Buffer) => console.log(parseVirtioNetHeader(p)?.gsoType));
 * ```
 */
export function parseVirtioNetHeader(packet: Uint8Array, size: 10 | 12 = VIRTIO_NET_HDR_SIZE): VirtioNetHeader | null {
  validateBytes(packet, 'packet');
  validateHeaderSize(size);
  if (packet.length < size) return null;
  const raw = packet[1];
  const gsoType = raw & ~GSO_ECN;
  if (!isGsoType(gsoType)) return null;
  const u16 = (at: number): number => packet[at] | (packet[at + 1] << 8);
  return {
    flags: packet[0],
    gsoType,
    ecn: (raw & GSO_ECN) !== 0,
    hdrLen: u16(2),
    gsoSize: u16(4),
    csumStart: u16(6),
    csumOffset: u16(8),
    numBuffers: size === 12 ? u16(10) : 0,
  };
}

/**
 * Writes a header into `target` at `offset` (a fresh Buffer of `size` bytes
 * when no target is given) and returns the target. Omitted fields are 0: a
 * plain packet with a checksum that is already complete.
 *
 * ```ts
 * dev.writable.write(Buffer.concat([buildVirtioNetHeader(), ipPacket]));
 * ```
 */
export function buildVirtioNetHeader(
  header: Partial<VirtioNetHeader> = {},
  size: 10 | 12 = VIRTIO_NET_HDR_SIZE,
  target: Buffer = Buffer.alloc(size),
  offset = 0,
): Buffer {
  validateObject(header, 'header');
  validateHeaderSize(size);
  validateBytes(target, 'target');
  if (target.length < size) throw outOfRange('target.length', `>= ${size}`, target.length);
  validateInteger(offset, 'offset', 0, target.length - size);
  const field = (key: keyof VirtioNetHeader, max: number, fallback = 0): number => {
    const value = header[key];
    return value === undefined ? fallback : validateInteger(value, `header.${key}`, 0, max);
  };
  const gsoType = field('gsoType', 0x7f, GsoType.NONE);
  const ecn = validateBoolean(header.ecn, 'header.ecn', false);
  // Checked first, written after: a bad field leaves the target as it was.
  const words = [field('hdrLen', 0xffff), field('gsoSize', 0xffff), field('csumStart', 0xffff), field('csumOffset', 0xffff)];
  if (size === 12) words.push(field('numBuffers', 0xffff));
  const flags = field('flags', 0xff);
  const out = toBuffer(target);
  out[offset] = flags;
  out[offset + 1] = gsoType | (ecn ? GSO_ECN : 0);
  words.forEach((word, i) => out.writeUInt16LE(word, offset + 2 + 2 * i));
  return target;
}

/**
 * `packet` (a plain IP packet or frame) with a header in front that says "a
 * single packet, checksums complete": how to write a packet you built to a
 * device opened with `offload`.
 *
 * ```ts
 * dev.writable.write(withVirtioNetHeader(echoReply(request)!));
 * ```
 */
export function withVirtioNetHeader(packet: Uint8Array, size: 10 | 12 = VIRTIO_NET_HDR_SIZE): Buffer {
  validateBytes(packet, 'packet');
  validateHeaderSize(size);
  const out = Buffer.alloc(size + packet.length);
  out.set(packet, size);
  return out;
}
