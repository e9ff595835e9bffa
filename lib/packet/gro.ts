// Coalescing for writes, as the kernel's GRO does: segments of one flow become
// one super-packet a device with offloads takes in one write, so the kernel's
// receive path runs once for many. What cannot merge passes through unchanged.
import { toBuffer } from '../internal/bytes';
import { validateArray, validateBoolean, validateBytes, validateInteger, validateObject } from '../internal/validators';
import { onesComplementSum } from './ip';
import { fillIpv4Checksum, pseudoHeaderSum, transportHeaders, type TransportHeaders } from './gso';
import { GsoType, VIRTIO_NET_HDR_SIZE, VirtioNetFlags, buildVirtioNetHeader } from './virtio-net';

const TCP = 6;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
/** The largest IP packet a super-packet may become (without BIG TCP). */
const MAX_SUPER_PACKET = 65535;
/** Datagrams in one UDP super-packet: the least UDP_MAX_SEGMENTS of the kernels with USO on TUN. */
const MAX_UDP_SEGMENTS = 64;

/** Options of {@link coalesceTcp} and {@link coalesce}. */
export interface CoalesceOptions {
  /** Largest IP length of a super-packet; default and maximum 65535. */
  maxSize?: number;
  /**
   * Leave a segment with a bad TCP checksum unmerged, so the kernel drops it (it redoes a merged
   * packet's checksum, which would hide the corruption). Default true; off only for your own packets.
   */
  verifyChecksums?: boolean;
}

/** Options of {@link coalesce}. */
export interface CoalesceAllOptions extends CoalesceOptions {
  /**
   * Merge UDP datagrams too, into UDP_L4 super-packets: only for a device
   * with `offload.uso` on (the kernel cuts them back into datagrams).
   * Default false.
   */
  udp?: boolean;
}

interface Group {
  tcp: boolean;
  /** What the flow's next packet must match to join (see mergeableKey). */
  match: string;
  first: Buffer;
  h: TransportHeaders;
  payloads: Buffer[];
  size: number;
  mss: number;
  lastLength: number;
  nextSeq: number;
  push: boolean;
}

/**
 * Merges the TCP segments among `packets` (plain IP packets) into as few super-packets as the
 * kernel's GRO would, each with a virtio_net_hdr, ready for a device with offloads. A segment
 * joins its flow's super-packet when it is next in sequence with the same ACK, window and
 * options; anything else ends it, so no packet overtakes another of its flow. Malformed or
 * other packets pass through in place.
 *
 * ```ts
 * const dev = await TunDevice.open({ offload: { tso: true } });
 * for (const p of coalesceTcp(segmentsFromTheNetwork)) dev.writable.write(p);
 * ```
 */
export function coalesceTcp(packets: readonly Uint8Array[], options: CoalesceOptions = {}): Buffer[] {
  return merge(packets, options, false);
}

/**
 * {@link coalesceTcp}, and with `udp: true` UDP as well: consecutive equal-sized datagrams of
 * one flow (a shorter one may end it) become one UDP_L4 super-packet, which the kernel cuts back
 * into the same datagrams. One with a zero checksum is never merged (the kernel would add one).
 *
 * ```ts
 * const dev = await TunDevice.open({ offload: true });
 * for (const p of coalesce(segments, { udp: dev.offload?.uso })) dev.writable.write(p);
 * ```
 */
export function coalesce(packets: readonly Uint8Array[], options: CoalesceAllOptions = {}): Buffer[] {
  return merge(packets, options, true);
}

function merge(packets: readonly Uint8Array[], options: CoalesceAllOptions, udpOption: boolean): Buffer[] {
  validateArray(packets, 'packets');
  packets.forEach((packet, i) => validateBytes(packet, `packets[${i}]`));
  validateObject(options, 'options');
  const udp = udpOption && validateBoolean(options.udp, 'options.udp', false);
  const maxSize =
    options.maxSize === undefined ? MAX_SUPER_PACKET : validateInteger(options.maxSize, 'options.maxSize', 1, MAX_SUPER_PACKET);
  const verify = validateBoolean(options.verifyChecksums, 'options.verifyChecksums', true);
  const out: Array<Buffer | Group> = [];
  const open = new Map<string, Group>();
  for (const packet of packets) {
    const ip = toBuffer(packet);
    const h = transportHeaders(ip);
    if (typeof h === 'string') {
      out.push(ip);
      continue;
    }
    const flow = flowKey(ip, h);
    const match = mergeableKey(ip, h, verify, udp);
    const group = open.get(flow);
    if (match !== undefined && group?.match === match && extend(group, ip, h, maxSize)) continue;
    if (match === undefined) {
      open.delete(flow);
      out.push(ip);
      continue;
    }
    const fresh = startGroup(ip, h, match);
    out.push(fresh);
    open.set(flow, fresh);
  }
  return out.map((item) => (Buffer.isBuffer(item) ? withHeader(item) : finish(item)));
}

/** Protocol, addresses and ports: within a flow no packet may overtake another. */
function flowKey(ip: Buffer, h: TransportHeaders): string {
  const t = h.ipLength;
  const addresses = h.version === 4 ? ip.toString('latin1', 12, 20) : ip.toString('latin1', 8, 40);
  return `${h.protocol}|${addresses}|${ip.toString('latin1', t, t + 4)}`;
}

/**
 * What else must match for two packets of a flow to merge, or undefined for one that never
 * merges (no payload, flags beyond ACK/PSH, IP options, a bad or zero checksum, ...).
 */
function mergeableKey(ip: Buffer, h: TransportHeaders, verify: boolean, udp: boolean): string | undefined {
  const t = h.ipLength;
  if (h.totalLength - t - h.l4Length <= 0) return undefined;
  if (h.protocol === TCP) {
    if ((ip[t + 13] & ~TCP_PSH) !== TCP_ACK) return undefined;
  } else if (!udp || ip.readUInt16BE(t + 4) !== h.totalLength - t || ip.readUInt16BE(t + 6) === 0) {
    return undefined;
  }
  if (
    verify &&
    onesComplementSum(ip.subarray(t, h.totalLength), pseudoHeaderSum(ip, h.version, h.protocol, h.totalLength - t)) !== 0xffff
  ) {
    return undefined;
  }
  // TCP: ack, data offset, window, options.
  const l4 = h.protocol === TCP ? tcpKey(ip, t, h.l4Length) : '';
  if (h.version === 4) {
    if (h.ipLength !== 20) return undefined;
    // TOS, DF, TTL.
    return `${ip[1]}|${ip[6]}|${ip[8]}|${l4}`;
  }
  // Traffic class and flow label, hop limit.
  return `${ip.toString('latin1', 0, 4)}|${ip[7]}|${l4}`;
}

function tcpKey(ip: Buffer, t: number, l4Length: number): string {
  return `${ip.toString('latin1', t + 8, t + 13)}|${ip.toString('latin1', t + 14, t + 16)}|${ip.toString('latin1', t + 20, t + l4Length)}`;
}

function startGroup(ip: Buffer, h: TransportHeaders, match: string): Group {
  const headers = h.ipLength + h.l4Length;
  const payload = ip.subarray(headers, h.totalLength);
  const tcp = h.protocol === TCP;
  return {
    tcp,
    match,
    first: ip,
    h,
    payloads: [payload],
    size: h.totalLength,
    mss: payload.length,
    lastLength: payload.length,
    nextSeq: tcp ? (ip.readUInt32BE(h.ipLength + 4) + payload.length) >>> 0 : 0,
    push: tcp && (ip[h.ipLength + 13] & TCP_PSH) !== 0,
  };
}

function extend(g: Group, ip: Buffer, h: TransportHeaders, maxSize: number): boolean {
  if (g.push || g.lastLength !== g.mss) return false;
  const payload = ip.subarray(h.ipLength + h.l4Length, h.totalLength);
  if (payload.length > g.mss || g.size + payload.length > maxSize) return false;
  if (!g.tcp) {
    if (g.payloads.length === MAX_UDP_SEGMENTS) return false;
  } else if (ip.readUInt32BE(h.ipLength + 4) !== g.nextSeq) {
    return false;
  }
  g.payloads.push(payload);
  g.size += payload.length;
  g.lastLength = payload.length;
  if (!g.tcp) return true;
  g.nextSeq = (g.nextSeq + payload.length) >>> 0;
  g.push = (ip[h.ipLength + 13] & TCP_PSH) !== 0;
  return true;
}

function withHeader(ip: Buffer): Buffer {
  const out = Buffer.allocUnsafe(VIRTIO_NET_HDR_SIZE + ip.length);
  buildVirtioNetHeader({}, VIRTIO_NET_HDR_SIZE, out);
  ip.copy(out, VIRTIO_NET_HDR_SIZE);
  return out;
}

function finish(g: Group): Buffer {
  if (g.payloads.length === 1) return withHeader(g.first.subarray(0, g.h.totalLength));
  const { h } = g;
  const headers = h.ipLength + h.l4Length;
  const hs = VIRTIO_NET_HDR_SIZE;
  const out = Buffer.allocUnsafe(hs + g.size);
  g.first.copy(out, hs, 0, headers);
  let at = hs + headers;
  for (const p of g.payloads) at += p.copy(out, at);
  const ip = out.subarray(hs);
  if (h.version === 4) {
    ip.writeUInt16BE(g.size, 2);
    fillIpv4Checksum(ip, h.ipLength);
  } else {
    ip.writeUInt16BE(g.size - 40, 4);
  }
  const t = h.ipLength;
  if (g.push) ip[t + 13] |= TCP_PSH;
  if (!g.tcp) ip.writeUInt16BE(g.size - t, t + 4);
  const csumOffset = g.tcp ? 16 : 6;
  // NEEDS_CSUM: the field holds the pseudo-header sum (not complemented) and
  // the kernel finishes it per segment, as for any CHECKSUM_PARTIAL packet.
  ip.writeUInt16BE(pseudoHeaderSum(ip, h.version, h.protocol, g.size - t), t + csumOffset);
  buildVirtioNetHeader(
    {
      flags: VirtioNetFlags.NEEDS_CSUM,
      gsoType: !g.tcp ? GsoType.UDP_L4 : h.version === 4 ? GsoType.TCPV4 : GsoType.TCPV6,
      hdrLen: headers,
      gsoSize: g.mss,
      csumStart: t,
      csumOffset,
    },
    hs,
    out,
  );
  return out;
}
