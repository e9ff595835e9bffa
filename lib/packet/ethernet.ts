// Ethernet frames and ARP for TAP devices: what a program on the user-space
// end of a TAP device must speak before any IP packet reaches it (the kernel
// asks "who has 10.0.0.2?" first and waits for the answer).
import { toBuffer } from '../internal/bytes';
import { invalidValue } from '../internal/errors';
import { validateBytes, validateInteger, validateObject } from '../internal/validators';
import { formatIp, formatMac, parseIp, parseMac } from './address';

/** EtherType of IPv4 (0x0800). */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of ARP (0x0806). */
export const ETHERTYPE_ARP = 0x0806;
/** EtherType of IPv6 (0x86dd). */
export const ETHERTYPE_IPV6 = 0x86dd;

const HEADER = 14;
const ARP_SIZE = 28;

/** An Ethernet II frame, untagged. */
export interface EthernetFrame {
  /** 'ff:ff:ff:ff:ff:ff' for broadcast. */
  destination: string;
  source: string;
  etherType: number;
  /** The frame's payload (a view into the frame, not a copy). */
  payload: Buffer;
}

/**
 * Reads an Ethernet II header; null for a frame shorter than 14 bytes.
 *
 * ```ts
 * const frame = parseEthernet(packet);
 * if (frame?.etherType === ETHERTYPE_IPV4) handleIp(frame.payload);
 * ```
 */
export function parseEthernet(frame: Uint8Array): EthernetFrame | null {
  validateBytes(frame, 'frame');
  if (frame.length < HEADER) return null;
  const b = toBuffer(frame);
  return {
    destination: formatMac(b.subarray(0, 6)),
    source: formatMac(b.subarray(6, 12)),
    etherType: b.readUInt16BE(12),
    payload: b.subarray(HEADER),
  };
}

/**
 * Builds an Ethernet II frame (no frame check sequence: the kernel neither
 * adds nor expects one on a TAP device).
 *
 * ```ts
 * dev.writable.write(ethernetFrame({ destination: peerMac, source: myMac, etherType: ETHERTYPE_IPV4, payload: ipPacket }));
 * ```
 */
export function ethernetFrame(fields: { destination: string; source: string; etherType: number; payload: Uint8Array }): Buffer {
  validateObject(fields, 'fields');
  const destination = macBytes(fields.destination, 'fields.destination', true);
  const source = macBytes(fields.source, 'fields.source', false);
  const etherType = validateInteger(fields.etherType, 'fields.etherType', 0, 0xffff);
  const payload = validateBytes(fields.payload, 'fields.payload');
  const frame = Buffer.alloc(HEADER + payload.length);
  destination.copy(frame, 0);
  source.copy(frame, 6);
  frame.writeUInt16BE(etherType, 12);
  frame.set(payload, HEADER);
  return frame;
}

/** An ARP packet for IPv4 over Ethernet (RFC 826). */
export interface ArpPacket {
  /** 1: request, 2: reply. */
  operation: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/**
 * Reads the ARP packet in an Ethernet payload; null unless it is ARP for
 * IPv4 over Ethernet.
 *
 * ```ts
 * const arp = frame.etherType === ETHERTYPE_ARP ? parseArp(frame.payload) : null;
 * if (arp?.operation === 1) console.log(`who has ${arp.targetIp}? tell ${arp.senderIp}`);
 * ```
 */
export function parseArp(payload: Uint8Array): ArpPacket | null {
  validateBytes(payload, 'payload');
  if (payload.length < ARP_SIZE) return null;
  const b = toBuffer(payload);
  // Hardware type 1 (Ethernet), protocol IPv4, 6-byte and 4-byte addresses.
  if (b.readUInt16BE(0) !== 1 || b.readUInt16BE(2) !== ETHERTYPE_IPV4 || b[4] !== 6 || b[5] !== 4) return null;
  return {
    operation: b.readUInt16BE(6),
    senderMac: formatMac(b.subarray(8, 14)),
    senderIp: formatIp(b.subarray(14, 18)),
    targetMac: formatMac(b.subarray(18, 24)),
    targetIp: formatIp(b.subarray(24, 28)),
  };
}

/**
 * The Ethernet frame answering `frame` if it is an ARP request for `ip`
 * ("10.0.0.2 is at `mac`"), else null: what a TAP program needs so the
 * kernel sends it IP packets for that address.
 *
 * ```ts
 * dev.readable.on('data', (frame: Buffer) => {
 *   const reply = arpReply(frame, '10.0.0.2', '02:00:00:00:00:02');
 *   if (reply !== null) dev.writable.write(reply);
 * });
 * ```
 */
export function arpReply(frame: Uint8Array, ip: string, mac: string): Buffer | null {
  const own = parseIp(ip, 'ip');
  if (own.family !== 4) throw invalidValue('ip', ip, 'must be an IPv4 address (ARP is IPv4 only)');
  const ownMac = parseMac(mac, 'mac');
  validateBytes(frame, 'frame');
  const ethernet = parseEthernet(frame);
  if (ethernet === null || ethernet.etherType !== ETHERTYPE_ARP) return null;
  const request = parseArp(ethernet.payload);
  if (request === null || request.operation !== 1 || request.targetIp !== ip) return null;
  const body = Buffer.from(ethernet.payload.subarray(0, ARP_SIZE));
  body.writeUInt16BE(2, 6);
  // The requester's addresses become the target; ours the sender.
  ethernet.payload.copy(body, 18, 8, 18);
  ownMac.copy(body, 8);
  own.bytes.copy(body, 14);
  return ethernetFrame({ destination: request.senderMac, source: mac, etherType: ETHERTYPE_ARP, payload: body });
}

/** A destination may be broadcast or multicast; a source must be a valid unicast address. */
function macBytes(mac: string, argument: string, allowGroup: boolean): Buffer {
  if (allowGroup && typeof mac === 'string' && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) {
    return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  }
  return parseMac(mac, argument);
}
