// Coalescing for writes, in the manner of the kernel's GRO: consecutive TCP
// segments of one flow, in sequence, become one super-packet with a
// virtio_net_hdr (gso_type TCPV4/TCPV6, gso_size) that a device opened with
// offloads takes in one write, so the kernel's receive path runs once for
// many segments. Everything that cannot be merged passes through unchanged,
// behind a header that says "single packet, checksum complete".
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

/** Options of {@link coalesceTcp}. */
export interface CoalesceOptions {
  /** Largest IP length of a super-packet; default and maximum 65535. */
  maxSize?: number;
  /**
   * Check each segment's TCP checksum and leave a bad one unmerged (the
   * kernel then drops it). A merged packet's checksum is redone by the
   * kernel, so without this check a corrupted segment would be accepted.
   * Default true; turn off only for packets you built yourself.
   */
  verifyChecksums?: boolean;
}

interface Group {
  first: Buffer;
  h: TransportHeaders;
  payloads: Buffer[];
  size: number;
  mss: number;
  lastLength: number;
  nextSeq: number;
  closed: boolean;
  push: boolean;
}

/**
 * Merges the TCP segments among `packets` (plain IPv4/IPv6 packets, no
 * header) into as few super-packets as the kernel's GRO would, and returns
 * packets ready to write to a device with offloads (each with a 10-byte
 * virtio_net_hdr). A segment joins the super-packet of its flow when it comes
 * next in sequence, carries ACK (PSH ends the super-packet), has the same
 * ack number, window and options, is no longer than the first, and the one
 * before it was full-sized. Malformed or other packets pass through in place.
 *
 * ```ts
 * const dev = await TunDevice.open({ offload: { tso: true } });
 * for (const p of coalesceTcp(segmentsFromTheNetwork)) dev.writable.write(p);
 * ```
 */
export function coalesceTcp(packets: readonly Uint8Array[], options: CoalesceOptions = {}): Buffer[] {
  validateArray(packets, 'packets');
  packets.forEach((packet, i) => validateBytes(packet, `packets[${i}]`));
  validateObject(options, 'options');
  const maxSize =
    options.maxSize === undefined ? MAX_SUPER_PACKET : validateInteger(options.maxSize, 'options.maxSize', 1, MAX_SUPER_PACKET);
  const verify = validateBoolean(options.verifyChecksums, 'options.verifyChecksums', true);
  const out: Array<Buffer | Group> = [];
  const open = new Map<string, Group>();
  for (const packet of packets) {
    const ip = toBuffer(packet);
    const h = transportHeaders(ip);
    const key = typeof h === 'string' ? undefined : mergeableKey(ip, h, verify);
    if (key === undefined || typeof h === 'string') {
      out.push(ip);
      continue;
    }
    const group = open.get(key);
    if (group !== undefined && extend(group, ip, h, maxSize)) continue;
    if (group !== undefined) group.closed = true;
    const fresh = startGroup(ip, h);
    out.push(fresh);
    open.set(key, fresh);
  }
  return out.map((item) => (Buffer.isBuffer(item) ? withHeader(item) : finish(item)));
}

/**
 * The flow (and everything that must match for two segments to merge), or
 * undefined for a packet that never merges: not TCP, no payload, flags other
 * than ACK/PSH, IP options, a bad checksum.
 */
function mergeableKey(ip: Buffer, h: TransportHeaders, verify: boolean): string | undefined {
  if (h.protocol !== TCP) return undefined;
  const t = h.ipLength;
  if (h.totalLength - t - h.l4Length <= 0) return undefined;
  if ((ip[t + 13] & ~TCP_PSH) !== TCP_ACK) return undefined;
  if (
    verify &&
    onesComplementSum(ip.subarray(t, h.totalLength), pseudoHeaderSum(ip, h.version, TCP, h.totalLength - t)) !== 0xffff
  ) {
    return undefined;
  }
  if (h.version === 4) {
    if (h.ipLength !== 20) return undefined;
    // Addresses, TOS, DF, TTL; then ports, ack, data offset, window, options.
    return `4|${ip.toString('latin1', 12, 20)}|${ip[1]}|${ip[6]}|${ip[8]}|${tcpKey(ip, t, h.l4Length)}`;
  }
  // Traffic class and flow label, hop limit, addresses.
  return `6|${ip.toString('latin1', 0, 4)}|${ip[7]}|${ip.toString('latin1', 8, 40)}|${tcpKey(ip, t, h.l4Length)}`;
}

function tcpKey(ip: Buffer, t: number, l4Length: number): string {
  return `${ip.toString('latin1', t, t + 4)}|${ip.toString('latin1', t + 8, t + 13)}|${ip.toString('latin1', t + 14, t + 16)}|${ip.toString('latin1', t + 20, t + l4Length)}`;
}

function startGroup(ip: Buffer, h: TransportHeaders): Group {
  const headers = h.ipLength + h.l4Length;
  const payload = ip.subarray(headers, h.totalLength);
  return {
    first: ip,
    h,
    payloads: [payload],
    size: h.totalLength,
    mss: payload.length,
    lastLength: payload.length,
    nextSeq: (ip.readUInt32BE(h.ipLength + 4) + payload.length) >>> 0,
    closed: false,
    push: (ip[h.ipLength + 13] & TCP_PSH) !== 0,
  };
}

function extend(g: Group, ip: Buffer, h: TransportHeaders, maxSize: number): boolean {
  if (g.closed || g.push || g.lastLength !== g.mss) return false;
  const payload = ip.subarray(h.ipLength + h.l4Length, h.totalLength);
  if (payload.length > g.mss || g.size + payload.length > maxSize) return false;
  if (ip.readUInt32BE(h.ipLength + 4) !== g.nextSeq) return false;
  g.payloads.push(payload);
  g.size += payload.length;
  g.lastLength = payload.length;
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
  // NEEDS_CSUM: the field holds the pseudo-header sum (not complemented) and
  // the kernel finishes it per segment, as for any CHECKSUM_PARTIAL packet.
  ip.writeUInt16BE(pseudoHeaderSum(ip, h.version, TCP, g.size - t), t + 16);
  buildVirtioNetHeader(
    {
      flags: VirtioNetFlags.NEEDS_CSUM,
      gsoType: h.version === 4 ? GsoType.TCPV4 : GsoType.TCPV6,
      hdrLen: headers,
      gsoSize: g.mss,
      csumStart: t,
      csumOffset: 16,
    },
    hs,
    out,
  );
  return out;
}
