// Generic segmentation in TypeScript: a super-packet from a device with
// offloads cut into the packets the kernel would have put on a wire, for a
// program that wants fewer, larger reads but plain packets in hand.
import { toBuffer } from '../internal/bytes';
import { validateBytes } from '../internal/validators';
import { onesComplementSum } from './ip';
import { GSO_ECN, GsoType, VIRTIO_NET_HDR_SIZE, VirtioNetFlags, parseVirtioNetHeader, validateHeaderSize } from './virtio-net';

const TCP = 6;
const UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** Where the headers of an IPv4/IPv6 TCP or UDP packet are; internal to gso/gro. */
export interface TransportHeaders {
  version: 4 | 6;
  /** IP header bytes (IPv4 ihl * 4, or 40). */
  ipLength: number;
  protocol: number;
  /** TCP header bytes (data offset * 4) or 8 for UDP. */
  l4Length: number;
  /** Bytes of the IP packet by its own length field (trailing bytes beyond are not part of it). */
  totalLength: number;
}

/**
 * Finds the IP and TCP/UDP headers of `ip`, or says what is wrong with them.
 * Only what segmentation can handle: an IPv4 packet that is not a fragment, an
 * IPv6 packet whose first next header is TCP or UDP.
 */
export function transportHeaders(ip: Uint8Array): TransportHeaders | string {
  if (ip.length < 1) return 'empty packet';
  const version = ip[0] >> 4;
  let ipLength: number;
  let protocol: number;
  let totalLength: number;
  if (version === 4) {
    if (ip.length < 20) return 'IPv4 header truncated';
    ipLength = (ip[0] & 0x0f) * 4;
    totalLength = (ip[2] << 8) | ip[3];
    protocol = ip[9];
    if (ipLength < 20) return 'IPv4 header length below 20';
    if (((ip[6] & 0x3f) | ip[7]) !== 0) return 'IPv4 fragment';
  } else if (version === 6) {
    if (ip.length < 40) return 'IPv6 header truncated';
    ipLength = 40;
    totalLength = 40 + ((ip[4] << 8) | ip[5]);
    protocol = ip[6];
  } else {
    return `not an IP packet (version ${version})`;
  }
  if (totalLength > ip.length) return `IP length ${totalLength} beyond the ${ip.length} bytes there are`;
  if (protocol !== TCP && protocol !== UDP) return `protocol ${protocol} is neither TCP nor UDP`;
  let l4Length = 8;
  if (protocol === TCP) {
    if (ipLength + 20 > totalLength) return 'TCP header truncated';
    l4Length = (ip[ipLength + 12] >> 4) * 4;
    if (l4Length < 20) return 'TCP data offset below 5';
  }
  if (ipLength + l4Length > totalLength) return `${protocol === TCP ? 'TCP' : 'UDP'} header truncated`;
  return { version, ipLength, protocol, l4Length, totalLength };
}

/** The folded one's-complement sum of the IPv4 or IPv6 pseudo-header for a TCP/UDP length. */
export function pseudoHeaderSum(ip: Uint8Array, version: 4 | 6, protocol: number, l4Length: number): number {
  let sum = version === 4 ? onesComplementSum(ip.subarray(12, 20)) : onesComplementSum(ip.subarray(8, 40));
  sum += protocol + (l4Length >>> 16) + (l4Length & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Fills in the TCP/UDP checksum of a whole packet whose headers `h` describes. */
export function fillTransportChecksum(ip: Buffer, h: TransportHeaders): void {
  const l4 = h.totalLength - h.ipLength;
  const at = h.ipLength + (h.protocol === TCP ? 16 : 6);
  ip.writeUInt16BE(0, at);
  let check = ~onesComplementSum(ip.subarray(h.ipLength, h.totalLength), pseudoHeaderSum(ip, h.version, h.protocol, l4)) & 0xffff;
  // In UDP a zero checksum means "none"; a computed zero is sent as all ones.
  if (check === 0 && h.protocol === UDP) check = 0xffff;
  ip.writeUInt16BE(check, at);
}

/** Recomputes an IPv4 header checksum in place. */
export function fillIpv4Checksum(ip: Buffer, ipLength: number): void {
  ip.writeUInt16BE(0, 10);
  ip.writeUInt16BE(~onesComplementSum(ip.subarray(0, ipLength)) & 0xffff, 10);
}

/** What {@link splitGso} gives: the packets, or why there are none. */
export type SplitResult = { ok: true; packets: Buffer[] } | { ok: false; error: string };

/**
 * Turns one packet read from a device with offloads (virtio_net_hdr first) into plain IP
 * packets: a super-packet into gso_size segments with their own headers and checksums, a
 * packet with a partial checksum (NEEDS_CSUM) into one with it done, any other into a view of
 * itself. Never throws on bad input: it gives `{ ok: false, error }`.
 *
 * ```ts
 * const dev = await TunDevice.open({ offload: { tso: true } });
 * dev.readable.on('data', (p: Buffer) => {
 *   const r = splitGso(p);
 *   if (r.ok) for (const segment of r.packets) handle(segment);
 * });
 * ```
 */
export function splitGso(packet: Uint8Array, headerSize: 10 | 12 = VIRTIO_NET_HDR_SIZE): SplitResult {
  validateBytes(packet, 'packet');
  validateHeaderSize(headerSize, 'headerSize');
  const header = parseVirtioNetHeader(packet, headerSize);
  if (header === null) {
    return {
      ok: false,
      error: packet.length < headerSize ? 'shorter than a virtio_net_hdr' : `unknown gso_type ${packet[1] & ~GSO_ECN}`,
    };
  }
  const ip = toBuffer(packet).subarray(headerSize);
  if (header.gsoType === GsoType.NONE) {
    if ((header.flags & VirtioNetFlags.NEEDS_CSUM) === 0) return { ok: true, packets: [ip] };
    const at = header.csumStart + header.csumOffset;
    if (at + 2 > ip.length) return { ok: false, error: `checksum field at ${at} beyond the packet (${ip.length} bytes)` };
    // The field holds the pseudo-header sum already: summing from csumStart
    // over the rest of the packet completes it (what skb_checksum_help does).
    const done = Buffer.from(ip);
    done.writeUInt16BE(~onesComplementSum(done.subarray(header.csumStart)) & 0xffff, at);
    return { ok: true, packets: [done] };
  }
  if (header.gsoType === GsoType.UDP) return { ok: false, error: 'UDP fragmentation offload (gso_type UDP) is not supported' };
  const h = transportHeaders(ip);
  if (typeof h === 'string') return { ok: false, error: h };
  const wantTcp = header.gsoType !== GsoType.UDP_L4;
  if (wantTcp !== (h.protocol === TCP))
    return { ok: false, error: `gso_type ${header.gsoType} on a protocol ${h.protocol} packet` };
  if (header.gsoType !== GsoType.UDP_L4 && h.version !== (header.gsoType === GsoType.TCPV4 ? 4 : 6)) {
    return { ok: false, error: `gso_type ${header.gsoType} on an IPv${h.version} packet` };
  }
  if (header.gsoSize === 0) return { ok: false, error: 'gso_size 0 on a super-packet' };
  return { ok: true, packets: segment(ip, h, header.gsoSize) };
}

function segment(ip: Buffer, h: TransportHeaders, mss: number): Buffer[] {
  const headers = h.ipLength + h.l4Length;
  const payload = h.totalLength - headers;
  const count = Math.max(1, Math.ceil(payload / mss));
  const tcp = h.protocol === TCP;
  const id = h.version === 4 ? ip.readUInt16BE(4) : 0;
  const seq = tcp ? ip.readUInt32BE(h.ipLength + 4) : 0;
  const flags = tcp ? ip[h.ipLength + 13] : 0;
  const out = new Array<Buffer>(count);
  for (let i = 0; i < count; i++) {
    const start = headers + i * mss;
    const length = Math.min(mss, h.totalLength - start);
    const s = Buffer.allocUnsafe(headers + length);
    ip.copy(s, 0, 0, headers);
    ip.copy(s, headers, start, start + length);
    if (h.version === 4) {
      s.writeUInt16BE(headers + length, 2);
      s.writeUInt16BE((id + i) & 0xffff, 4);
      fillIpv4Checksum(s, h.ipLength);
    } else {
      s.writeUInt16BE(h.l4Length + length, 4);
    }
    if (tcp) {
      s.writeUInt32BE((seq + i * mss) >>> 0, h.ipLength + 4);
      let f = flags;
      if (i !== count - 1) f &= ~(TCP_FIN | TCP_PSH);
      if (i !== 0) f &= ~TCP_CWR;
      s[h.ipLength + 13] = f;
    } else {
      s.writeUInt16BE(8 + length, h.ipLength + 4);
    }
    fillTransportChecksum(s, { ...h, totalLength: s.length });
    out[i] = s;
  }
  return out;
}
