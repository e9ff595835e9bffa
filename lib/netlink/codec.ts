// rtnetlink's wire format, built and read as pure, bounds-checked code: a truncated or corrupt
// message gives a `MalformedMessage` value, never an exception. Host byte order. ./decode reads
// the link, address and route messages.
import os from 'node:os';

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  // In an NLMSG_ERROR: the echoed request is cut to its header; TLVs follow it.
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;
export const RTMGRP = { LINK: 0x1, IPV4_IFADDR: 0x10, IPV4_ROUTE: 0x40, IPV6_IFADDR: 0x100, IPV6_ROUTE: 0x400 } as const;
export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  STATS: 7,
  TXQLEN: 13,
  OPERSTATE: 16,
  LINKINFO: 18,
  STATS64: 23,
  CARRIER: 33,
} as const;
/** Inside IFLA_LINKINFO, and inside its IFLA_INFO_DATA for a TUN/TAP link (linux/if_link.h). */
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
export const RTA = { DST: 1, SRC: 2, IIF: 3, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;
export const NLMSGERR_ATTR_MSG = 1;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IFF_UP = 0x1;
export const RTM_F_CLONED = 0x200;
export const RT_TABLE_MAIN = 254;
export const RT_SCOPE = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254, NOWHERE: 255 } as const;
export const RTN_UNICAST = 1;
export const RTPROT_STATIC = 4;

export const HEADER_SIZE = 16;
export const IFINFOMSG_SIZE = 16;
export const IFADDRMSG_SIZE = 8;
export const RTMSG_SIZE = 12;
const NLA_TYPE_MASK = 0x3fff; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER

const LE = os.endianness() === 'LE';
export const readU16 = (b: Buffer, o: number): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
export const readU32 = (b: Buffer, o: number): number => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
export const readI32 = (b: Buffer, o: number): number => (LE ? b.readInt32LE(o) : b.readInt32BE(o));
export const readU64 = (b: Buffer, o: number): number => Number(LE ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
const writeU16 = (b: Buffer, v: number, o: number): number => (LE ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
const writeU32 = (b: Buffer, v: number, o: number): number => (LE ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
const writeI32 = (b: Buffer, v: number, o: number): number => (LE ? b.writeInt32LE(v, o) : b.writeInt32BE(v, o));

// Arithmetic, not `(n + 3) & ~3`: a length read from the wire may be near
// 2^32, where the 32-bit bitwise form wraps negative.
const align4 = (n: number): number => n + ((4 - (n % 4)) % 4);

/** What a message or datagram that could not be read was wrong with. */
export class MalformedMessage {
  constructor(readonly reason: string) {}
}

/** One netlink message: its header fields and the bytes after the header. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** An attribute to put in a request. */
export interface Attribute {
  type: number;
  value: Buffer;
}

export const attr = {
  u32(type: number, value: number): Attribute {
    const b = Buffer.alloc(4);
    writeU32(b, value >>> 0, 0);
    return { type, value: b };
  },
  string(type: number, value: string): Attribute {
    return { type, value: Buffer.from(`${value}\0`) };
  },
  bytes(type: number, value: Uint8Array): Attribute {
    return { type, value: Buffer.from(value) };
  },
};

/** One request message: header, the fixed family header, then attributes. */
export function encodeMessage(
  type: number,
  flags: number,
  seq: number,
  fixed: Buffer,
  attributes: readonly Attribute[] = [],
): Buffer {
  let length = HEADER_SIZE + align4(fixed.length);
  for (const a of attributes) length += align4(4 + a.value.length);
  const b = Buffer.alloc(length);
  writeU32(b, length, 0);
  writeU16(b, type, 4);
  writeU16(b, flags, 6);
  writeU32(b, seq >>> 0, 8);
  writeU32(b, 0, 12); // to the kernel: its port id is 0
  fixed.copy(b, HEADER_SIZE);
  let offset = HEADER_SIZE + align4(fixed.length);
  for (const a of attributes) {
    writeU16(b, 4 + a.value.length, offset);
    writeU16(b, a.type, offset + 2);
    a.value.copy(b, offset + 4);
    offset += align4(4 + a.value.length);
  }
  return b;
}

export function ifinfomsg(family: number, index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(IFINFOMSG_SIZE);
  b[0] = family;
  writeI32(b, index, 4);
  writeU32(b, flags, 8);
  writeU32(b, change, 12);
  return b;
}

export function ifaddrmsg(family: number, prefixLength: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(IFADDRMSG_SIZE);
  b[0] = family;
  b[1] = prefixLength;
  b[2] = flags & 0xff;
  b[3] = scope;
  writeU32(b, index, 4);
  return b;
}

export interface RtmsgFields {
  family: number;
  dstLength: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
}

export function rtmsg(f: RtmsgFields): Buffer {
  const b = Buffer.alloc(RTMSG_SIZE);
  b[0] = f.family;
  b[1] = f.dstLength;
  b[4] = f.table;
  b[5] = f.protocol;
  b[6] = f.scope;
  b[7] = f.type;
  return b;
}

/** The messages of one datagram, in order, and what stopped the reading early. */
export interface ParsedDatagram {
  messages: NetlinkMessage[];
  /** Set when the rest of the datagram could not be read. */
  malformed?: MalformedMessage;
  /** seq and pid of the broken message, when its header could be read. */
  brokenSeq?: number;
  brokenPid?: number;
}

/**
 * Splits a datagram into messages. A header whose length is too small or runs
 * past the datagram ends the reading: the next message's start cannot be known.
 */
export function parseDatagram(datagram: Buffer): ParsedDatagram {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    const left = datagram.length - offset;
    if (left < HEADER_SIZE) {
      return { messages, malformed: new MalformedMessage(`${left} bytes after the last message: too short for a header`) };
    }
    const length = readU32(datagram, offset);
    const seq = readU32(datagram, offset + 8);
    const pid = readU32(datagram, offset + 12);
    if (length < HEADER_SIZE || length > left) {
      return {
        messages,
        malformed: new MalformedMessage(`message length ${length} at offset ${offset} does not fit the ${left} bytes left`),
        brokenSeq: seq,
        brokenPid: pid,
      };
    }
    messages.push({
      type: readU16(datagram, offset + 4),
      flags: readU16(datagram, offset + 6),
      seq,
      pid,
      payload: datagram.subarray(offset + HEADER_SIZE, offset + length),
    });
    offset += Math.min(align4(length), left);
  }
  return { messages };
}

/** Attributes by type (the last one wins), or the reason they could not be read. */
export function parseAttributes(data: Buffer, start: number): Map<number, Buffer> | MalformedMessage {
  const attributes = new Map<number, Buffer>();
  let offset = start;
  while (offset + 4 <= data.length) {
    const length = readU16(data, offset);
    if (length < 4 || offset + length > data.length) {
      return new MalformedMessage(`attribute length ${length} at offset ${offset} runs past the ${data.length}-byte message`);
    }
    attributes.set(readU16(data, offset + 2) & NLA_TYPE_MASK, data.subarray(offset + 4, offset + length));
    offset += align4(length);
  }
  return attributes;
}

export function attrString(a: Buffer | undefined): string | undefined {
  if (a === undefined) return undefined;
  const nul = a.indexOf(0);
  return a.subarray(0, nul < 0 ? a.length : nul).toString('utf8');
}

export function attrU32(a: Buffer | undefined): number | undefined {
  return a !== undefined && a.length >= 4 ? readU32(a, 0) : undefined;
}

/** The answer in an NLMSG_ERROR: errno 0 is an ACK. */
export interface ErrorReply {
  /** Positive errno, or 0 for success. */
  errno: number;
  /** The kernel's own words (extended ACK), when it gave any. */
  kernelMessage?: string;
}

export function decodeError(message: NetlinkMessage): ErrorReply | MalformedMessage {
  const p = message.payload;
  if (p.length < 4) return new MalformedMessage(`NLMSG_ERROR body of ${p.length} bytes: too short for the error code`);
  const errno = -readI32(p, 0);
  const reply: ErrorReply = { errno };
  if ((message.flags & NLM_F.ACK_TLVS) !== 0 && p.length >= 4 + HEADER_SIZE) {
    // The TLVs follow the echoed request: its header only when capped.
    const echoed = (message.flags & NLM_F.CAPPED) !== 0 ? HEADER_SIZE : align4(readU32(p, 4));
    // An echoed length beyond the body leaves no room for TLVs: there are none to read.
    const tlvs = parseAttributes(p, Math.min(4 + echoed, p.length));
    if (!(tlvs instanceof MalformedMessage)) {
      const text = attrString(tlvs.get(NLMSGERR_ATTR_MSG));
      if (text !== undefined && text !== '') reply.kernelMessage = text;
    }
  }
  return reply;
}

/** NLMSG_DONE may carry the dump's own error (negative) as an int. */
export function decodeDone(message: NetlinkMessage): number {
  return message.payload.length >= 4 ? Math.max(0, -readI32(message.payload, 0)) : 0;
}

/** 'RTM_NEWADDR' for 20: names requests in errors. */
export function messageTypeName(type: number): string {
  for (const [name, value] of Object.entries(RTM)) if (value === type) return `RTM_${name}`;
  return `type ${type}`;
}
