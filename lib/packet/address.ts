// IP addresses, prefixes and MAC addresses: parsed and checked before any
// request is built, formatted the way `ip` prints them (RFC 5952 for IPv6).
import net from 'node:net';
import { invalidType, invalidValue } from '../internal/errors';
import { validateBytes } from '../internal/validators';

/** An address in network byte order with its family. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Buffer;
}

/** An address with a prefix length ('10.0.0.1/24'). */
export interface Cidr extends IpAddress {
  prefixLength: number;
}

function parseIpv6(text: string): Buffer {
  // net.isIPv6 has vouched for the syntax; only the layout is left to do.
  let tail: number[] = [];
  let body = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/u.exec(body);
  if (v4 !== null) {
    const parts = v4[1].split('.').map(Number);
    tail = [(parts[0] << 8) | parts[1], (parts[2] << 8) | parts[3]];
    body = body.slice(0, -v4[1].length);
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let words: number[];
  const gap = body.indexOf('::');
  if (gap >= 0) {
    const head = groups(body.slice(0, gap));
    const rest = [...groups(body.slice(gap + 2)), ...tail];
    words = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    words = [...groups(body), ...tail];
  }
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

/**
 * Parses an IPv4 or IPv6 address (no zone index); throws ERR_INVALID_ARG_VALUE.
 *
 * ```ts
 * parseIp('fd00::1'); // { family: 6, bytes: <Buffer fd 00 ... 01> }
 * ```
 */
export function parseIp(value: unknown, argument = 'address'): IpAddress {
  if (typeof value !== 'string') throw invalidType(argument, 'a string', value);
  if (net.isIPv4(value)) return { family: 4, bytes: Buffer.from(value.split('.').map(Number)) };
  if (net.isIPv6(value) && !value.includes('%')) return { family: 6, bytes: parseIpv6(value) };
  throw invalidValue(argument, value, 'must be an IPv4 or IPv6 address');
}

/**
 * Parses 'address/prefix'. Without a prefix the address stands alone (/32 or
 * /128) only where `allowBare` says so. Throws ERR_INVALID_ARG_VALUE.
 *
 * ```ts
 * parseCidr('10.0.0.1/24'); // { family: 4, bytes: <Buffer 0a 00 00 01>, prefixLength: 24 }
 * ```
 */
export function parseCidr(value: unknown, argument = 'cidr', allowBare = false): Cidr {
  if (typeof value !== 'string') throw invalidType(argument, "a string such as '10.0.0.1/24'", value);
  const slash = value.indexOf('/');
  if (slash < 0 && !allowBare)
    throw invalidValue(argument, value, "must be an address with a prefix length, such as '10.0.0.1/24' or 'fd00::1/64'");
  const address = parseIp(slash < 0 ? value : value.slice(0, slash), argument);
  const max = address.family === 4 ? 32 : 128;
  if (slash < 0) return { ...address, prefixLength: max };
  const prefix = value.slice(slash + 1);
  if (!/^\d{1,3}$/u.test(prefix)) throw invalidValue(argument, value, 'has a prefix length that is not a number');
  const prefixLength = Number(prefix);
  if (prefixLength > max) {
    throw invalidValue(argument, value, `has prefix length /${prefixLength}; IPv${address.family} allows /0 to /${max}`);
  }
  return { ...address, prefixLength };
}

/** The network part of an address: host bits cleared. */
export function networkOf(cidr: Cidr): Buffer {
  const b = Buffer.from(cidr.bytes);
  for (let bit = cidr.prefixLength; bit < b.length * 8; bit++) b[bit >> 3] &= ~(0x80 >> (bit & 7));
  return b;
}

/**
 * '10.0.0.1', or RFC 5952 text for 16 bytes (longest zero run as '::', lower case),
 * as `ip` prints addresses.
 *
 * ```ts
 * formatIp(packet.subarray(12, 16)); // the source of an IPv4 packet
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  validateBytes(bytes, 'bytes');
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw invalidValue('bytes', bytes, `must be 4 bytes (IPv4) or 16 (IPv6) long, not ${bytes.length}`);
  }
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  // Like inet_ntop: IPv4-mapped addresses end in dotted quad.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero word is never shortened
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** 'aa:bb:cc:dd:ee:ff' from six (or any number of) bytes. */
export function formatMac(bytes: Uint8Array): string {
  validateBytes(bytes, 'bytes');
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses a unicast, non-zero Ethernet address; throws ERR_INVALID_ARG_VALUE. */
export function parseMac(value: unknown, argument = 'mac'): Buffer {
  if (typeof value !== 'string') throw invalidType(argument, "a string such as '02:00:00:00:00:01'", value);
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/iu.test(value)) {
    throw invalidValue(argument, value, "must be six hex bytes separated by ':', such as '02:00:00:00:00:01'");
  }
  const bytes = Buffer.from(value.split(/[:-]/u).map((h) => parseInt(h, 16)));
  // The kernel's is_valid_ether_addr(): a device address must be unicast and not all zero.
  if ((bytes[0] & 1) !== 0) throw invalidValue(argument, value, 'is a multicast address (lowest bit of the first byte set)');
  if (bytes.every((b) => b === 0)) throw invalidValue(argument, value, 'is all zeros');
  return bytes;
}
