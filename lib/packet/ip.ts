// Small packet helpers that a TUN program needs on day one: the IP version,
// the Internet checksum, and an ICMP/ICMPv6 echo reply built from a request.
// They read and write plain Buffers and never throw on short input; what is
// not bytes, or a number out of its field's range, is refused with Node's codes.
import { invalidValue, outOfRange } from '../internal/errors';
import { parseIp } from './address';
import { validateBytes, validateInteger, validateObject } from '../internal/validators';

/**
 * 4 or 6 for an IP packet, 0 for anything else (or an empty buffer).
 *
 * ```ts
 * dev.readable.on('data', (p: Buffer) => {
 *   if (ipVersion(p) === 6) console.log('an IPv6 packet');
 * });
 * ```
 */
export function ipVersion(packet: Uint8Array): 0 | 4 | 6 {
  validateBytes(packet, 'packet');
  const v = packet.length > 0 ? packet[0] >> 4 : 0;
  return v === 4 || v === 6 ? v : 0;
}

/**
 * The 16-bit one's-complement sum of `data` (RFC 1071), folded; `initial` adds a pseudo-header's sum.
 *
 * ```ts
 * const pseudo = onesComplementSum(packet.subarray(12, 20)) + 17 + udpLength; // IPv4 pseudo-header
 * const udpChecksum = internetChecksum(packet.subarray(20), pseudo);
 * ```
 */
export function onesComplementSum(data: Uint8Array, initial = 0): number {
  validateBytes(data, 'data');
  // Above 32 bits the folding below (>>> 16) would drop the high bits.
  let sum = validateInteger(initial, 'initial', 0, 0xffffffff);
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (data.length & 1) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * The Internet checksum of `data` (RFC 1071): the complement of onesComplementSum.
 *
 * ```ts
 * header.writeUInt16BE(0, 10);
 * header.writeUInt16BE(internetChecksum(header.subarray(0, 20)), 10); // the IPv4 header checksum
 * ```
 */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return ~onesComplementSum(data, initial) & 0xffff;
}

/**
 * The echo reply for an IPv4 ICMP echo request or an ICMPv6 echo request,
 * as a new Buffer (addresses swapped, type changed, checksums recomputed),
 * or null if `packet` is not a well-formed echo request.
 *
 * ```ts
 * dev.readable.on('data', (packet: Buffer) => {
 *   const reply = echoReply(packet);
 *   if (reply !== null) dev.writable.write(reply); // ping now gets answers
 * });
 * ```
 */
export function echoReply(packet: Uint8Array): Buffer | null {
  validateBytes(packet, 'packet');
  const version = ipVersion(packet);
  if (version === 4) {
    const ihl = (packet[0] & 0x0f) * 4;
    const total = (packet[2] << 8) | packet[3];
    if (ihl < 20 || total > packet.length || total < ihl + 8 || packet[9] !== 1 || packet[ihl] !== 8) return null;
    const reply = Buffer.from(packet.subarray(0, total));
    reply.copy(reply, 12, 16, 20); // dst -> src, through a copy of the old src:
    Buffer.from(packet.subarray(12, 16)).copy(reply, 16);
    reply[8] = 64; // TTL
    reply.writeUInt16BE(0, 10);
    reply.writeUInt16BE(internetChecksum(reply.subarray(0, ihl)), 10);
    reply[ihl] = 0; // echo reply
    reply.writeUInt16BE(0, ihl + 2);
    reply.writeUInt16BE(internetChecksum(reply.subarray(ihl)), ihl + 2);
    return reply;
  }
  if (version === 6) {
    const payload = (packet[4] << 8) | packet[5];
    // Only a plain ICMPv6 header directly after the fixed header (next header 58).
    if (packet[6] !== 58 || 40 + payload > packet.length || payload < 8 || packet[40] !== 128) return null;
    const reply = Buffer.from(packet.subarray(0, 40 + payload));
    Buffer.from(packet.subarray(8, 24)).copy(reply, 24);
    Buffer.from(packet.subarray(24, 40)).copy(reply, 8);
    reply[7] = 64; // hop limit
    reply[40] = 129; // echo reply
    reply.writeUInt16BE(0, 42);
    reply.writeUInt16BE(internetChecksum(reply.subarray(40), ipv6PseudoHeaderSum(reply, payload, 58)), 42);
    return reply;
  }
  return null;
}

/**
 * The one's-complement sum of the IPv6 pseudo-header of `packet` for an upper-layer length and protocol.
 *
 * ```ts
 * const sum = internetChecksum(packet.subarray(40), ipv6PseudoHeaderSum(packet, payloadLength, 58)); // ICMPv6
 * ```
 */
export function ipv6PseudoHeaderSum(packet: Uint8Array, upperLength: number, nextHeader: number): number {
  validateBytes(packet, 'packet');
  if (packet.length < 40) throw outOfRange('packet.length', '>= 40 (an IPv6 header holds the addresses)', packet.length);
  validateInteger(upperLength, 'upperLength', 0, 0xffffffff);
  validateInteger(nextHeader, 'nextHeader', 0, 0xff);
  let sum = onesComplementSum(packet.subarray(8, 40));
  sum += (upperLength >>> 16) + (upperLength & 0xffff) + nextHeader;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * What {@link ipv4UdpPacket} builds.
 *
 * ```ts
 * const fields: UdpPacketFields = { source: '10.0.0.2', destination: '10.0.0.1', sourcePort: 53, destinationPort: 5353, payload };
 * ```
 */
export interface UdpPacketFields {
  /** Dotted IPv4 source address. */
  source: string;
  /** Dotted IPv4 destination address. */
  destination: string;
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
  /** Default 64. */
  ttl?: number;
  /** The IPv4 identification field; default 0. */
  id?: number;
}

function ipv4Bytes(address: string, into: Buffer, offset: number): void {
  const ip = parseIp(address);
  if (ip.family !== 4) throw invalidValue('address', address, 'must be an IPv4 address');
  ip.bytes.copy(into, offset);
}

/**
 * A complete IPv4/UDP packet with valid IP and UDP checksums, ready to write
 * to a TUN device.
 *
 * ```ts
 * dev.writable.write(ipv4UdpPacket({ source: '10.0.0.2', destination: '10.0.0.1',
 *   sourcePort: 5000, destinationPort: 6000, payload: Buffer.from('hi') }));
 * ```
 */
export function ipv4UdpPacket(fields: UdpPacketFields): Buffer {
  validateObject(fields, 'fields');
  const payload = validateBytes(fields.payload, 'fields.payload');
  // Checked rather than written as given: Buffer and typed-array stores
  // would turn NaN into 0, 1.7 into 1 and 300 into 44 without a word.
  const sourcePort = validateInteger(fields.sourcePort, 'fields.sourcePort', 0, 0xffff);
  const destinationPort = validateInteger(fields.destinationPort, 'fields.destinationPort', 0, 0xffff);
  const ttl = validateInteger(fields.ttl ?? 64, 'fields.ttl', 0, 0xff);
  const id = validateInteger(fields.id ?? 0, 'fields.id', 0, 0xffff);
  const length = 28 + payload.length;
  if (length > 0xffff)
    throw outOfRange('fields.payload.length', '<= 65507 (an IPv4 packet is at most 65535 bytes)', payload.length);
  const p = Buffer.alloc(length);
  p[0] = 0x45;
  p.writeUInt16BE(length, 2);
  p.writeUInt16BE(id, 4);
  p[8] = ttl;
  p[9] = 17;
  ipv4Bytes(fields.source, p, 12);
  ipv4Bytes(fields.destination, p, 16);
  p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(sourcePort, 20);
  p.writeUInt16BE(destinationPort, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  p.set(payload, 28);
  // Pseudo-header: addresses, protocol, UDP length.
  const pseudo = onesComplementSum(p.subarray(12, 20)) + 17 + 8 + payload.length;
  const sum = internetChecksum(p.subarray(20), pseudo);
  p.writeUInt16BE(sum === 0 ? 0xffff : sum, 26);
  return p;
}
