// Builders of whole IP packets with correct checksums: IPv4 or IPv6 (from
// the addresses' family) carrying TCP, UDP, ICMP or ICMPv6. Every field is
// checked like a Node argument before a byte is written.
import { invalidValue, outOfRange } from '../internal/errors';
import { validateBytes, validateInteger, validateObject } from '../internal/validators';
import { parseIp } from './address';
import { onesComplementSum } from './ip';
import { IpView } from './ip-view';
import { setU16, setU32 } from './view-common';

/** The IP header's part of every builder: addresses (text or 4/16 bytes) and the optional fields. */
export interface IpPacketFields {
  /** '10.0.0.2', 'fd00::2', or the address's 4 or 16 bytes; both addresses of one family. */
  source: string | Uint8Array;
  destination: string | Uint8Array;
  /** TTL or hop limit; default 64. */
  ttl?: number;
  /** IPv4 identification; default 0. */
  id?: number;
  /** The traffic class byte (DSCP << 2 | ECN); default 0. */
  trafficClass?: number;
  /** IPv6 flow label; default 0. */
  flowLabel?: number;
}

/** A TCP segment's fields; options are written in the order the kernel uses. */
export interface TcpPacketFields extends IpPacketFields {
  sourcePort: number;
  destinationPort: number;
  sequenceNumber?: number;
  acknowledgmentNumber?: number;
  /** Bit set of TcpFlags; default ACK. */
  flags?: number;
  /** Default 65535. */
  window?: number;
  urgentPointer?: number;
  mss?: number;
  sackPermitted?: boolean;
  /** TSval and TSecr. */
  timestamps?: readonly [number, number];
  windowScale?: number;
  /** SACK blocks: [left, right] edges, at most 4. */
  sack?: ReadonlyArray<readonly [number, number]>;
  payload?: Uint8Array;
}

/** A UDP datagram's fields. */
export interface UdpDatagramFields extends IpPacketFields {
  sourcePort: number;
  destinationPort: number;
  payload?: Uint8Array;
}

/** An ICMP (IPv4) or ICMPv6 (IPv6) message: type, code, the 32-bit rest of the header, and the body. */
export interface IcmpPacketFields extends IpPacketFields {
  type: number;
  code?: number;
  /** The header's second word (identifier << 16 | sequence for echo, the MTU of packet too big...). */
  rest?: number;
  payload?: Uint8Array;
}

function addressBytes(value: string | Uint8Array, name: string): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== 4 && value.length !== 16) throw invalidValue(name, value, 'must be 4 or 16 bytes');
    return value;
  }
  return parseIp(value, name).bytes;
}

/**
 * Allocates an IP packet with room for `upperLength` bytes of `protocol`,
 * its header written; returns the packet and where the upper layer starts.
 */
function ipPacket(fields: IpPacketFields, protocol: number, upperLength: number): { packet: Buffer; at: number } {
  validateObject(fields, 'fields');
  const source = addressBytes(fields.source, 'fields.source');
  const destination = addressBytes(fields.destination, 'fields.destination');
  if (source.length !== destination.length)
    throw invalidValue('fields.destination', fields.destination, 'must be of the same family as fields.source');
  const ttl = validateInteger(fields.ttl ?? 64, 'fields.ttl', 0, 0xff);
  const trafficClass = validateInteger(fields.trafficClass ?? 0, 'fields.trafficClass', 0, 0xff);
  const v4 = source.length === 4;
  const header = v4 ? 20 : 40;
  const max = v4 ? 0xffff - header : 0xffff;
  if (upperLength > max)
    throw outOfRange('fields.payload.length', `a packet of at most ${max} bytes after the IP header`, upperLength);
  const p = Buffer.alloc(header + upperLength);
  if (v4) {
    p[0] = 0x45;
    p[1] = trafficClass;
    setU16(p, 2, p.length);
    setU16(p, 4, validateInteger(fields.id ?? 0, 'fields.id', 0, 0xffff));
    p[8] = ttl;
    p[9] = protocol;
    p.set(source, 12);
    p.set(destination, 16);
    setU16(p, 10, ~onesComplementSum(p.subarray(0, 20)) & 0xffff);
  } else {
    const flow = validateInteger(fields.flowLabel ?? 0, 'fields.flowLabel', 0, 0xfffff);
    setU32(p, 0, ((6 << 28) | (trafficClass << 20) | flow) >>> 0);
    setU16(p, 4, upperLength);
    p[6] = protocol;
    p[7] = ttl;
    p.set(source, 8);
    p.set(destination, 24);
  }
  return { packet: p, at: header };
}

const checksumView = new IpView();

/** Fills in the upper layer's checksum at `field` (from the upper layer's start), for a packet built here. */
function fillChecksum(p: Buffer, field: number, zeroMeansNone: boolean): Buffer {
  checksumView.reset(p);
  const at = checksumView.payloadOffset;
  const pseudo = checksumView.protocol === 1 ? 0 : checksumView.pseudoHeaderSum();
  let sum = ~onesComplementSum(p.subarray(at), pseudo) & 0xffff;
  if (sum === 0 && zeroMeansNone) sum = 0xffff;
  setU16(p, at + field, sum);
  return p;
}

function optionalBytes(value: Uint8Array | undefined, name: string): Uint8Array {
  return value === undefined ? Buffer.alloc(0) : validateBytes(value, name);
}

/**
 * A TCP/IP packet (IPv4 or IPv6 by the addresses) with correct checksums.
 *
 * ```ts
 * dev.writable.write(tcpPacket({ source: '10.0.0.2', destination: '10.0.0.1', sourcePort: 80, destinationPort: 40000,
 *   flags: TcpFlags.SYN | TcpFlags.ACK, sequenceNumber: 1, acknowledgmentNumber: syn.sequenceNumber + 1, mss: 1460 }));
 * ```
 */
export function tcpPacket(fields: TcpPacketFields): Buffer {
  validateObject(fields, 'fields');
  const payload = optionalBytes(fields.payload, 'fields.payload');
  const sack = fields.sack ?? [];
  if (sack.length > 4) throw outOfRange('fields.sack.length', '<= 4', sack.length);
  const options: number[] = [];
  if (fields.mss !== undefined) options.push(2, 4, ...u16Bytes(validateInteger(fields.mss, 'fields.mss', 0, 0xffff)));
  if (fields.sackPermitted === true) options.push(4, 2);
  if (fields.timestamps !== undefined) {
    options.push(8, 10, ...u32Bytes(validateInteger(fields.timestamps[0], 'fields.timestamps[0]', 0, 0xffffffff)));
    options.push(...u32Bytes(validateInteger(fields.timestamps[1], 'fields.timestamps[1]', 0, 0xffffffff)));
  }
  if (fields.windowScale !== undefined) options.push(1, 3, 3, validateInteger(fields.windowScale, 'fields.windowScale', 0, 14));
  if (sack.length > 0) {
    options.push(5, 2 + 8 * sack.length);
    sack.forEach(([l, r], i) =>
      options.push(
        ...u32Bytes(validateInteger(l, `fields.sack[${i}][0]`, 0, 0xffffffff)),
        ...u32Bytes(validateInteger(r, `fields.sack[${i}][1]`, 0, 0xffffffff)),
      ),
    );
  }
  while (options.length % 4 !== 0) options.push(0);
  if (options.length > 40) throw outOfRange('fields (TCP options)', 'at most 40 bytes of options', options.length);
  const headerLength = 20 + options.length;
  const { packet: p, at } = ipPacket(fields, 6, headerLength + payload.length);
  setU16(p, at, validateInteger(fields.sourcePort, 'fields.sourcePort', 0, 0xffff));
  setU16(p, at + 2, validateInteger(fields.destinationPort, 'fields.destinationPort', 0, 0xffff));
  setU32(p, at + 4, validateInteger(fields.sequenceNumber ?? 0, 'fields.sequenceNumber', 0, 0xffffffff));
  setU32(p, at + 8, validateInteger(fields.acknowledgmentNumber ?? 0, 'fields.acknowledgmentNumber', 0, 0xffffffff));
  p[at + 12] = (headerLength / 4) << 4;
  p[at + 13] = validateInteger(fields.flags ?? 0x10, 'fields.flags', 0, 0xff);
  setU16(p, at + 14, validateInteger(fields.window ?? 0xffff, 'fields.window', 0, 0xffff));
  setU16(p, at + 18, validateInteger(fields.urgentPointer ?? 0, 'fields.urgentPointer', 0, 0xffff));
  p.set(options, at + 20);
  p.set(payload, at + headerLength);
  return fillChecksum(p, 16, false);
}

/**
 * A UDP/IP packet (IPv4 or IPv6 by the addresses) with correct checksums.
 *
 * ```ts
 * dev.writable.write(udpPacket({ source: 'fd00::2', destination: 'fd00::1', sourcePort: 53, destinationPort: 5353, payload }));
 * ```
 */
export function udpPacket(fields: UdpDatagramFields): Buffer {
  validateObject(fields, 'fields');
  const payload = optionalBytes(fields.payload, 'fields.payload');
  const sourcePort = validateInteger(fields.sourcePort, 'fields.sourcePort', 0, 0xffff);
  const destinationPort = validateInteger(fields.destinationPort, 'fields.destinationPort', 0, 0xffff);
  const { packet: p, at } = ipPacket(fields, 17, 8 + payload.length);
  setU16(p, at, sourcePort);
  setU16(p, at + 2, destinationPort);
  setU16(p, at + 4, 8 + payload.length);
  p.set(payload, at + 8);
  return fillChecksum(p, 6, true);
}

/**
 * An ICMP (IPv4) or ICMPv6 (IPv6) packet with correct checksums.
 *
 * ```ts
 * const ping = icmpPacket({ source: '10.0.0.1', destination: '10.0.0.2', type: IcmpType.ECHO_REQUEST, rest: (id << 16) | seq });
 * ```
 */
export function icmpPacket(fields: IcmpPacketFields): Buffer {
  validateObject(fields, 'fields');
  const payload = optionalBytes(fields.payload, 'fields.payload');
  const type = validateInteger(fields.type, 'fields.type', 0, 0xff);
  const code = validateInteger(fields.code ?? 0, 'fields.code', 0, 0xff);
  const rest = validateInteger(fields.rest ?? 0, 'fields.rest', 0, 0xffffffff);
  const v6 = addressBytes(fields.source, 'fields.source').length === 16;
  const { packet: p, at } = ipPacket(fields, v6 ? 58 : 1, 8 + payload.length);
  p[at] = type;
  p[at + 1] = code;
  setU32(p, at + 4, rest);
  p.set(payload, at + 8);
  return fillChecksum(p, 2, false);
}

function u16Bytes(v: number): number[] {
  return [v >>> 8, v & 0xff];
}

function u32Bytes(v: number): number[] {
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
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

/**
 * A complete IPv4/UDP packet with valid IP and UDP checksums: {@link udpPacket}
 * for IPv4 addresses only, with a payload required.
 *
 * ```ts
 * dev.writable.write(ipv4UdpPacket({ source: '10.0.0.2', destination: '10.0.0.1',
 *   sourcePort: 5000, destinationPort: 6000, payload: Buffer.from('hi') }));
 * ```
 */
export function ipv4UdpPacket(fields: UdpPacketFields): Buffer {
  validateObject(fields, 'fields');
  for (const name of ['source', 'destination'] as const) {
    if (parseIp(fields[name], `fields.${name}`).family !== 4)
      throw invalidValue(`fields.${name}`, fields[name], 'must be an IPv4 address');
  }
  validateBytes(fields.payload, 'fields.payload');
  return udpPacket(fields);
}
