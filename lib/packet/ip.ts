// The IP version and the Internet checksum (its one home). They never throw on
// short input; what is not bytes, or a number out of its field's range, is
// refused with Node's codes.
import { outOfRange } from '../internal/errors';
import { validateBytes, validateInteger } from '../internal/validators';

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
