// The answers a program at the far end of a device gives first: echo replies
// (ping, IPv4 and IPv6) and IPv6 neighbour discovery (RFC 4861), the IPv6
// counterpart of ARP, built on the views and builders.
import { invalidValue } from '../internal/errors';
import { validateBytes } from '../internal/validators';
import { formatMac, parseIp, parseMac } from './address';
import { icmpPacket } from './build';
import { ETHERTYPE_IPV6, ethernetFrame } from './ethernet';
import { IcmpView } from './icmp-view';
import { IpView } from './ip-view';
import { EthernetView } from './link-view';

const ip = new IpView();
const icmp = new IcmpView();
const ethernet = new EthernetView();

/**
 * The echo reply for an IPv4 ICMP or an ICMPv6 echo request, as a new Buffer
 * (addresses swapped, identifier, sequence and data kept, checksums
 * computed), or null if `packet` is not a well-formed echo request.
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
  if (!ip.reset(packet) || !icmp.resetFrom(ip) || !icmp.isEchoRequest) return null;
  const size = ip.addressLength;
  return icmpPacket({
    source: packet.slice(ip.destinationOffset, ip.destinationOffset + size),
    destination: packet.slice(ip.sourceOffset, ip.sourceOffset + size),
    type: ip.version === 6 ? 129 : 0,
    rest: icmp.restOfHeader,
    payload: packet.subarray(icmp.payloadOffset, icmp.payloadOffset + icmp.payloadLength),
  });
}

/** What {@link neighborAdvertisement} builds. */
export interface NeighborAdvertisementFields {
  /** The advertising node's address (usually the target itself). */
  source: string | Uint8Array;
  /** The solicitor's address, or 'ff02::1' for an unsolicited advertisement. */
  destination: string | Uint8Array;
  /** The address being advertised. */
  target: string | Uint8Array;
  /** The target's link-layer address, sent as the target link-layer address option. */
  targetMac: string;
  router?: boolean;
  solicited?: boolean;
  override?: boolean;
}

function ipv6Bytes(value: string | Uint8Array, name: string): Uint8Array {
  const bytes = typeof value === 'string' ? parseIp(value, name).bytes : value;
  if (bytes.length !== 16) throw invalidValue(name, value, 'must be an IPv6 address');
  return bytes;
}

/**
 * An ICMPv6 neighbour advertisement (hop limit 255, as RFC 4861 requires of every NDP message).
 *
 * ```ts
 * tap.writable.write(ethernetFrame({ destination: peerMac, source: myMac, etherType: ETHERTYPE_IPV6,
 *   payload: neighborAdvertisement({ source: 'fd00::2', destination: 'fd00::1', target: 'fd00::2', targetMac: myMac, solicited: true }) }));
 * ```
 */
export function neighborAdvertisement(fields: NeighborAdvertisementFields): Buffer {
  const body = Buffer.alloc(16 + 8);
  body.set(ipv6Bytes(fields.target, 'fields.target'), 0);
  body[16] = 2; // target link-layer address option, 8 bytes
  body[17] = 1;
  parseMac(fields.targetMac, 'fields.targetMac').copy(body, 18);
  const flags = (fields.router === true ? 4 : 0) | (fields.solicited === true ? 2 : 0) | (fields.override === true ? 1 : 0);
  return icmpPacket({
    source: ipv6Bytes(fields.source, 'fields.source'),
    destination: ipv6Bytes(fields.destination, 'fields.destination'),
    ttl: 255,
    type: 136,
    rest: (flags << 29) >>> 0,
    payload: body,
  });
}

/**
 * The Ethernet frame answering `frame` if it is a neighbour solicitation for
 * `address` ("fd00::2 is at `mac`"), else null: the IPv6 counterpart of
 * {@link arpReply}, which a TAP program needs before the kernel sends it IPv6.
 *
 * ```ts
 * dev.readable.on('data', (frame: Buffer) => {
 *   const reply = neighborReply(frame, 'fd00::2', '02:00:00:00:00:02');
 *   if (reply !== null) dev.writable.write(reply);
 * });
 * ```
 */
export function neighborReply(frame: Uint8Array, address: string, mac: string): Buffer | null {
  const own = ipv6Bytes(address, 'address');
  parseMac(mac, 'mac');
  validateBytes(frame, 'frame');
  if (!ethernet.reset(frame) || ethernet.etherType !== ETHERTYPE_IPV6) return null;
  if (!ip.reset(frame, ethernet.payloadOffset, ethernet.payloadLength) || !icmp.resetFrom(ip)) return null;
  // RFC 4861 7.1.1: hop limit 255 proves the solicitation was not forwarded.
  if (icmp.type !== 135 || icmp.code !== 0 || ip.ttl !== 255 || !ip.payloadChecksumValid()) return null;
  const target = icmp.targetAddressOffset;
  for (let i = 0; i < 16; i++) if (frame[target + i] !== own[i]) return null;
  // From the unspecified address (duplicate address detection) the answer goes to all nodes, unsolicited.
  let unspecified = true;
  for (let i = 0; i < 16; i++) if (frame[ip.sourceOffset + i] !== 0) unspecified = false;
  const sourceMac = icmp.sourceLinkLayerOffset >= 0 ? icmp.sourceLinkLayerOffset : ethernet.sourceOffset;
  const reply = neighborAdvertisement({
    source: own,
    destination: unspecified ? 'ff02::1' : frame.slice(ip.sourceOffset, ip.sourceOffset + 16),
    target: own,
    targetMac: mac,
    solicited: !unspecified,
    override: true,
  });
  const destination = unspecified ? '33:33:00:00:00:01' : formatMac(frame.subarray(sourceMac, sourceMac + 6));
  return ethernetFrame({ destination, source: mac, etherType: ETHERTYPE_IPV6, payload: reply });
}
