// Hand-built IPv4/IPv6 TCP and UDP packets for the offload tests, and a
// checksum written independently of lib/packet/ip.ts (32-bit accumulation over
// a DataView, folded once at the end) to check the library's against.

export interface TcpSpec {
  version?: 4 | 6;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  id?: number;
  options?: Buffer;
  sport?: number;
  dport?: number;
  src?: Buffer;
  dst?: Buffer;
  payload: Buffer;
}

export const FIN = 0x01;
export const SYN = 0x02;
export const PSH = 0x08;
export const ACK = 0x10;
export const CWR = 0x80;

const SRC4 = Buffer.from([10, 1, 2, 3]);
const DST4 = Buffer.from([10, 1, 2, 4]);
const SRC6 = Buffer.from('fd000000000000000000000000000001', 'hex');
const DST6 = Buffer.from('fd000000000000000000000000000002', 'hex');

/** RFC 1071 checksum, independent of the library: returns 0 when a packet region with its checksum field verifies. */
export function referenceChecksum(parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
  let sum = 0;
  let i = 0;
  for (; i + 1 < all.length; i += 2) sum += view.getUint16(i);
  if (i < all.length) sum += all[i] * 256;
  sum = sum % 65535 || (sum === 0 ? 0 : 65535); // end-around carry in one step
  return (0xffff - sum) & 0xffff;
}

function pseudoHeader(ip: Buffer, protocol: number, length: number): Buffer {
  if (ip[0] >> 4 === 4) {
    const p = Buffer.alloc(12);
    ip.copy(p, 0, 12, 20);
    p[9] = protocol;
    p.writeUInt16BE(length, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  ip.copy(p, 0, 8, 40);
  p.writeUInt32BE(length, 32);
  p[39] = protocol;
  return p;
}

/** Whether the IP header (IPv4) and the TCP/UDP checksum of a plain packet verify. */
export function checksumsValid(packet: Buffer): boolean {
  const v4 = packet[0] >> 4 === 4;
  const ipLength = v4 ? (packet[0] & 15) * 4 : 40;
  const protocol = v4 ? packet[9] : packet[6];
  const total = v4 ? packet.readUInt16BE(2) : 40 + packet.readUInt16BE(4);
  if (v4 && referenceChecksum([packet.subarray(0, ipLength)]) !== 0) return false;
  const l4 = packet.subarray(ipLength, total);
  return referenceChecksum([pseudoHeader(packet, protocol, l4.length), l4]) === 0;
}

function ipHeader(version: 4 | 6, protocol: number, l4Length: number, id: number, src?: Buffer, dst?: Buffer): Buffer {
  if (version === 4) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + l4Length, 2);
    h.writeUInt16BE(id, 4);
    h[6] = 0x40; // DF
    h[8] = 64;
    h[9] = protocol;
    (src ?? SRC4).copy(h, 12);
    (dst ?? DST4).copy(h, 16);
    h.writeUInt16BE(referenceChecksum([h]), 10);
    return h;
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4Length, 4);
  h[6] = protocol;
  h[7] = 64;
  (src ?? SRC6).copy(h, 8);
  (dst ?? DST6).copy(h, 24);
  return h;
}

/** A TCP packet with correct checksums. */
export function tcpPacket(spec: TcpSpec): Buffer {
  const options = spec.options ?? Buffer.alloc(0);
  const tcp = Buffer.alloc(20 + options.length);
  tcp.writeUInt16BE(spec.sport ?? 40000, 0);
  tcp.writeUInt16BE(spec.dport ?? 5201, 2);
  tcp.writeUInt32BE((spec.seq ?? 1000) >>> 0, 4);
  tcp.writeUInt32BE(spec.ack ?? 7, 8);
  tcp[12] = (tcp.length / 4) << 4;
  tcp[13] = spec.flags ?? ACK;
  tcp.writeUInt16BE(spec.window ?? 512, 14);
  options.copy(tcp, 20);
  const ip = ipHeader(spec.version ?? 4, 6, tcp.length + spec.payload.length, spec.id ?? 100, spec.src, spec.dst);
  tcp.writeUInt16BE(referenceChecksum([pseudoHeader(ip, 6, tcp.length + spec.payload.length), tcp, spec.payload]), 16);
  return Buffer.concat([ip, tcp, spec.payload]);
}

/** A UDP datagram with correct checksums. */
export function udpPacket(version: 4 | 6, payload: Buffer, id = 100): Buffer {
  return udpDatagram({ version, payload, id });
}

export interface UdpSpec {
  version?: 4 | 6;
  id?: number;
  sport?: number;
  dport?: number;
  src?: Buffer;
  dst?: Buffer;
  payload: Buffer;
}

/** A UDP datagram with correct checksums, every field chosen. */
export function udpDatagram(spec: UdpSpec): Buffer {
  const { payload } = spec;
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(spec.sport ?? 4000, 0);
  udp.writeUInt16BE(spec.dport ?? 4001, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = ipHeader(spec.version ?? 4, 17, 8 + payload.length, spec.id ?? 100, spec.src, spec.dst);
  udp.writeUInt16BE(referenceChecksum([pseudoHeader(ip, 17, 8 + payload.length), udp, payload]) || 0xffff, 6);
  return Buffer.concat([ip, udp, payload]);
}

/**
 * The packet as a device with offloads hands over a super-packet: a
 * virtio_net_hdr (little-endian) in front, and the transport checksum field
 * holding only the pseudo-header sum (CHECKSUM_PARTIAL).
 */
export function asSuperPacket(packet: Buffer, gsoType: number, gsoSize: number): Buffer {
  const v4 = packet[0] >> 4 === 4;
  const ipLength = v4 ? (packet[0] & 15) * 4 : 40;
  const protocol = v4 ? packet[9] : packet[6];
  const l4 = packet.length - ipLength;
  const p = Buffer.from(packet);
  const at = ipLength + (protocol === 6 ? 16 : 6);
  // The pseudo-header sum, not complemented: the complement of what the reference gives for it alone.
  p.writeUInt16BE(0xffff - referenceChecksum([pseudoHeader(p, protocol, l4)]), at);
  const hdr = Buffer.alloc(10);
  hdr[0] = 1; // NEEDS_CSUM
  hdr[1] = gsoType;
  hdr.writeUInt16LE(ipLength + (protocol === 6 ? (p[ipLength + 12] >> 4) * 4 : 8), 2);
  hdr.writeUInt16LE(gsoSize, 4);
  hdr.writeUInt16LE(ipLength, 6);
  hdr.writeUInt16LE(at - ipLength, 8);
  return Buffer.concat([hdr, p]);
}

/** Deterministic bytes. */
export function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** `packets` back to back in one buffer, with the [offset, length] pairs a batch has. */
export function asBatch(packets: Buffer[]): { slab: Buffer; descriptors: Uint32Array } {
  const descriptors = new Uint32Array(2 * packets.length);
  let at = 0;
  packets.forEach((p, i) => {
    descriptors[2 * i] = at;
    descriptors[2 * i + 1] = p.length;
    at += p.length;
  });
  return { slab: Buffer.concat(packets), descriptors };
}
