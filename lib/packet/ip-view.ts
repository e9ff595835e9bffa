// A reusable, allocation-free view of an IPv4 or IPv6 packet: re-pointed at
// each packet with reset(), it checks the lengths once and walks the IPv6
// extension-header chain, so its getters need no checks of their own.
import { formatIp } from './address';
import { onesComplementSum } from './ip';
import { ZERO_BYTES, adjustChecksum, adjustChecksumFor, fold, u16, u32, type ViewReason } from './view-common';

/** IP protocol numbers the views know. */
export const IpProtocol = {
  HOP_BY_HOP: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NO_NEXT_HEADER: 59,
  DESTINATION_OPTIONS: 60,
} as const;

// The IPv6 extension headers the views walk, by next-header value: hop-by-hop, routing, fragment,
// destination options and AH (which says its length as they do); ESP is opaque, an upper layer.
const EXTENSION_HEADER = new Uint8Array(256);
for (const next of [0, 43, 44, 51, 60]) EXTENSION_HEADER[next] = 1;

/**
 * An IPv4 or IPv6 packet in a buffer. After {@link IpView.reset} returns
 * true, every getter reads inside the packet; after it returns false
 * ({@link IpView.reason} says why), the view reads as zero bytes: numbers are
 * 0, flags false, offsets -1. Offsets are from the start of `buffer`.
 *
 * ```ts
 * const ip = new IpView();
 * dev.readBatches((slab, d, count) => {
 *   for (let i = 0; i < count; i++) {
 *     if (ip.reset(slab, d[2 * i], d[2 * i + 1]) && ip.protocol === IpProtocol.TCP) flows.count(ip);
 *   }
 * });
 * ```
 */
export class IpView {
  private _b: Uint8Array = ZERO_BYTES;
  private _o = 0;
  private _length = 0;
  private _version: 0 | 4 | 6 = 0;
  private _protocol = 0;
  private _payloadOffset = -1;
  // The extension headers' offsets are written only by a walk that meets one; 1 while any is set.
  private _extensions = 0;
  private _fragmentHeader = -1;
  private _hopByHop = -1;
  private _routing = -1;
  private _destinationOptions = -1;
  private _reason: ViewReason = 'absent';

  /**
   * Points the view at the packet of `length` bytes at `offset` of `buffer`.
   * Returns whether it is a well-formed IP packet. Bytes past the IP length
   * (Ethernet padding) are left out.
   */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    if (this._extensions !== 0) this._forgetExtensions();
    // Well-formed IPv4 here, IPv6 in _reset6(); the rest (and every reason) in _resetOther().
    if (length < 20 || offset + length > buffer.length || buffer[offset] >> 4 !== 4) return this._reset6(buffer, offset, length);
    const ihl = (buffer[offset] & 0x0f) * 4;
    const total = (buffer[offset + 2] << 8) | buffer[offset + 3];
    if (ihl < 20 || total < ihl || total > length) return this._resetOther(buffer, offset, length);
    return this._accept(buffer, offset, 4, total, buffer[offset + 9], offset + ihl);
  }

  // IPv6 without extension headers; anything else to _resetOther().
  private _reset6(buffer: Uint8Array, offset: number, length: number): boolean {
    if (length < 40 || offset + length > buffer.length || buffer[offset] >> 4 !== 6)
      return this._resetOther(buffer, offset, length);
    const total = 40 + ((buffer[offset + 4] << 8) | buffer[offset + 5]);
    const next = buffer[offset + 6];
    if (total > length || EXTENSION_HEADER[next] !== 0) return this._resetOther(buffer, offset, length);
    return this._accept(buffer, offset, 6, total, next, offset + 40);
  }

  private _accept(buffer: Uint8Array, offset: number, version: 4 | 6, length: number, protocol: number, payload: number): true {
    this._b = buffer;
    this._o = offset;
    this._version = version;
    this._length = length;
    this._protocol = protocol;
    this._payloadOffset = payload;
    this._reason = 'ok';
    return true;
  }

  // IPv6 with extension headers, and every reason a packet is not well formed.
  private _resetOther(buffer: Uint8Array, offset: number, length: number): boolean {
    if (length < 1 || offset + length > buffer.length) return this._invalid('truncated');
    const version = buffer[offset] >> 4;
    if (version === 4) {
      if (length < 20) return this._invalid('truncated');
      const ihl = (buffer[offset] & 0x0f) * 4;
      if (ihl < 20) return this._invalid('bad-header-length');
      return this._invalid(u16(buffer, offset + 2) < ihl ? 'bad-length' : 'truncated');
    }
    if (version !== 6) return this._invalid('bad-version');
    if (length < 40) return this._invalid('truncated');
    const total = 40 + u16(buffer, offset + 4);
    if (total > length) return this._invalid('truncated');
    return this._walkExtensions(buffer, offset, total);
  }

  // Hop-by-hop, routing, fragment, destination options and AH each say their
  // own length; anything else is the upper layer (ESP included: opaque).
  private _walkExtensions(b: Uint8Array, offset: number, total: number): boolean {
    let next = b[offset + 6];
    let at = offset + 40;
    const end = offset + total;
    this._extensions = 1;
    for (;;) {
      if (EXTENSION_HEADER[next] === 0) break;
      if (at + 8 > end) return this._invalid('truncated');
      const size = next === 44 ? 8 : next === 51 ? (b[at + 1] + 2) * 4 : (b[at + 1] + 1) * 8;
      if (at + size > end) return this._invalid('bad-option');
      if (next === 0) {
        if (this._hopByHop < 0) this._hopByHop = at;
      } else if (next === 43) {
        if (this._routing < 0) this._routing = at;
      } else if (next === 60) {
        if (this._destinationOptions < 0) this._destinationOptions = at;
      } else if (next === 44 && this._fragmentHeader < 0) {
        this._fragmentHeader = at;
      }
      next = b[at];
      at += size;
    }
    return this._accept(b, offset, 6, total, next, at);
  }

  private _forgetExtensions(): void {
    this._extensions = 0;
    this._fragmentHeader = this._hopByHop = this._routing = this._destinationOptions = -1;
  }

  /** Points the view at nothing: reason 'absent'. */
  clear(): void {
    if (this._reason !== 'absent') this._invalid('absent');
  }

  private _invalid(reason: ViewReason): false {
    if (this._extensions !== 0) this._forgetExtensions();
    this._b = ZERO_BYTES;
    this._o = 0;
    this._length = this._protocol = this._version = 0;
    this._payloadOffset = -1;
    this._reason = reason;
    return false;
  }

  /** 'ok', or why the last reset() returned false. */
  get reason(): ViewReason {
    return this._reason;
  }
  /** Whether the last reset() found a well-formed packet. */
  get valid(): boolean {
    return this._reason === 'ok';
  }
  /** The buffer the view reads (a zero-filled one while invalid). */
  get buffer(): Uint8Array {
    return this._b;
  }
  /** Where the packet starts in {@link buffer}. */
  get offset(): number {
    return this._o;
  }
  /** 4, 6, or 0 while invalid. */
  get version(): 0 | 4 | 6 {
    return this._version;
  }
  /** The packet's length by its own header (IPv4 total length, IPv6 40 + payload length). */
  get length(): number {
    return this._length;
  }
  /** The IPv4 header with options (IHL × 4), or IPv6's fixed 40 bytes. */
  get headerLength(): number {
    return this._version === 6 ? 40 : (this._b[this._o] & 0x0f) * 4;
  }
  /** The upper-layer protocol: IPv4's protocol field, or the next header after IPv6's extension headers. */
  get protocol(): number {
    return this._protocol;
  }
  /** Where the upper layer starts (after IPv4 options or IPv6 extension headers); -1 while invalid. */
  get payloadOffset(): number {
    return this._payloadOffset;
  }
  /** Bytes of the upper layer. */
  get payloadLength(): number {
    return this._payloadOffset < 0 ? 0 : this._o + this._length - this._payloadOffset;
  }
  /** Where this fragment's data belongs in the original packet, in bytes; 0 for the first fragment or an unfragmented packet. */
  get fragmentOffset(): number {
    if (this._version === 4) return (u16(this._b, this._o + 6) & 0x1fff) * 8;
    return this._fragmentHeader < 0 ? 0 : u16(this._b, this._fragmentHeader + 2) & 0xfff8;
  }
  /** More fragments follow (IPv4 MF, or the IPv6 fragment header's M flag). */
  get moreFragments(): boolean {
    if (this._version === 4) return (this._b[this._o + 6] & 0x20) !== 0;
    return this._fragmentHeader >= 0 && (this._b[this._fragmentHeader + 3] & 1) !== 0;
  }
  /** A fragment (of IPv4, or with an IPv6 fragment header): the upper layer is whole only after reassembly. */
  get isFragment(): boolean {
    return this._version === 4 ? (u16(this._b, this._o + 6) & 0x3fff) !== 0 : this._fragmentHeader >= 0;
  }
  /** IPv4 Don't Fragment. */
  get dontFragment(): boolean {
    return this._version === 4 && (this._b[this._o + 6] & 0x40) !== 0;
  }
  /** The IPv4 identification (16 bits), or the IPv6 fragment header's (32 bits); 0 when absent. */
  get identification(): number {
    if (this._version === 4) return u16(this._b, this._o + 4);
    return this._fragmentHeader < 0 ? 0 : u32(this._b, this._fragmentHeader + 4);
  }
  /** IPv4 traffic class byte (DSCP and ECN), or IPv6's traffic class. */
  get trafficClass(): number {
    const b = this._b;
    const o = this._o;
    return this._version === 6 ? ((b[o] & 0x0f) << 4) | (b[o + 1] >> 4) : b[o + 1];
  }
  /** Differentiated services code point (RFC 2474). */
  get dscp(): number {
    return this.trafficClass >> 2;
  }
  /** Explicit congestion notification bits (RFC 3168). */
  get ecn(): number {
    return this.trafficClass & 3;
  }
  /** The IPv6 flow label; 0 for IPv4. */
  get flowLabel(): number {
    if (this._version !== 6) return 0;
    return ((this._b[this._o + 1] & 0x0f) << 16) | u16(this._b, this._o + 2);
  }
  /** IPv4 time to live, or IPv6 hop limit. */
  get ttl(): number {
    return this._b[this._o + (this._version === 6 ? 7 : 8)];
  }
  /** Sets the TTL / hop limit, updating the IPv4 header checksum. */
  set ttl(value: number) {
    if (this._version === 0) return;
    const at = this._o + (this._version === 6 ? 7 : 8);
    if (this._version === 4)
      adjustChecksum(this._b, this._o + 10, u16(this._b, this._o + 8), ((value & 0xff) << 8) | this._b[this._o + 9]);
    this._b[at] = value;
  }
  /** The IPv4 header checksum; 0 for IPv6. */
  get headerChecksum(): number {
    return this._version === 4 ? u16(this._b, this._o + 10) : 0;
  }
  /** Whether the IPv4 header checksum is right (always true for IPv6, which has none). */
  headerChecksumValid(): boolean {
    if (this._version !== 4) return this._version === 6;
    return onesComplementSum(this._b.subarray(this._o, this._o + this.headerLength)) === 0xffff;
  }
  /** The IPv4 options' offset (-1 when there are none) and length. */
  get optionsOffset(): number {
    return this._version === 4 && this.headerLength > 20 ? this._o + 20 : -1;
  }
  /** Bytes of IPv4 options; 0 when there are none. */
  get optionsLength(): number {
    return this._version === 4 ? this.headerLength - 20 : 0;
  }
  /** Offset of the first IPv6 hop-by-hop, routing, fragment or destination options header; -1 when absent. */
  get hopByHopOffset(): number {
    return this._hopByHop;
  }
  /** Offset of the IPv6 routing header; -1 when absent. */
  get routingOffset(): number {
    return this._routing;
  }
  /** Offset of the IPv6 fragment header; -1 when absent. */
  get fragmentHeaderOffset(): number {
    return this._fragmentHeader;
  }
  /** Offset of the IPv6 destination options header; -1 when absent. */
  get destinationOptionsOffset(): number {
    return this._destinationOptions;
  }
  /** The IPv6 routing header's type and segments left; -1 without one. */
  get routingType(): number {
    return this._routing < 0 ? -1 : this._b[this._routing + 2];
  }
  /** The IPv6 routing header's segments left; -1 without one. */
  get segmentsLeft(): number {
    return this._routing < 0 ? -1 : this._b[this._routing + 3];
  }
  /** Bytes per address: 4 or 16 (0 while invalid). */
  get addressLength(): number {
    return this._version === 4 ? 4 : this._version === 6 ? 16 : 0;
  }
  /** Where the source and destination addresses are (network byte order). */
  get sourceOffset(): number {
    return this._version === 0 ? -1 : this._o + (this._version === 4 ? 12 : 8);
  }
  /** Where the destination address is (network byte order). */
  get destinationOffset(): number {
    return this._version === 0 ? -1 : this._o + (this._version === 4 ? 16 : 24);
  }
  /** The IPv4 source as an unsigned 32-bit number; for IPv6, its last 32 bits. */
  get source4(): number {
    return u32(this._b, this._o + (this._version === 6 ? 20 : 12));
  }
  /** The IPv4 destination as an unsigned 32-bit number; for IPv6, its last 32 bits. */
  get destination4(): number {
    return u32(this._b, this._o + (this._version === 6 ? 36 : 16));
  }
  /** The 32-bit word `index` (0-3) of the IPv6 source or destination; IPv4 has only word 0. */
  sourceWord(index: number): number {
    const v = this._version;
    return index >= 0 && index < (v === 6 ? 4 : v >> 2) ? u32(this._b, this._o + (v === 6 ? 8 : 12) + index * 4) : 0;
  }
  /** The 32-bit word `index` (0-3) of the destination address; IPv4 has only word 0. */
  destinationWord(index: number): number {
    const v = this._version;
    return index >= 0 && index < (v === 6 ? 4 : v >> 2) ? u32(this._b, this._o + (v === 6 ? 24 : 16) + index * 4) : 0;
  }
  /** The source as text ('10.0.0.1', RFC 5952 for IPv6): allocates, so only when asked. */
  sourceString(): string {
    return this._version === 0 ? '' : formatIp(this._b.subarray(this.sourceOffset, this.sourceOffset + this.addressLength));
  }
  /** The destination as text: allocates, so only when asked. */
  destinationString(): string {
    return this._version === 0
      ? ''
      : formatIp(this._b.subarray(this.destinationOffset, this.destinationOffset + this.addressLength));
  }
  /** The one's-complement sum of the pseudo-header for the upper layer (RFC 768/793/8200). */
  pseudoHeaderSum(): number {
    if (this._version === 0) return 0;
    const from = this.sourceOffset;
    const length = this.payloadLength;
    const sum = onesComplementSum(this._b.subarray(from, from + 2 * this.addressLength));
    return fold(sum + this._protocol + (length >>> 16) + (length & 0xffff));
  }
  /**
   * Whether the upper layer's checksum (TCP, UDP, ICMP, ICMPv6) is right.
   * True for other protocols, a UDP/IPv4 checksum of 0 (none), and fragments (not checkable).
   */
  payloadChecksumValid(): boolean {
    const p = this._protocol;
    if (this._version === 0) return false;
    if (this.isFragment || (p !== 6 && p !== 17 && p !== 1 && p !== 58)) return true;
    const data = this._b.subarray(this._payloadOffset, this._o + this._length);
    if (p === 17 && this._version === 4 && data.length >= 8 && u16(data, 6) === 0) return true;
    const initial = p === 1 ? 0 : this.pseudoHeaderSum();
    return onesComplementSum(data, initial) === 0xffff;
  }

  /**
   * Replaces the source (or, with `destination`, the destination) address
   * with `address.length` (4 or 16) bytes from `address`, updating the IPv4
   * header checksum and the TCP, UDP or ICMPv6 checksum incrementally
   * (RFC 1624): the NAT rewrite. False (and nothing changed) if the sizes differ.
   */
  setAddress(which: 'source' | 'destination', address: Uint8Array, at = 0): boolean {
    const size = this.addressLength;
    if (size === 0 || at < 0 || at + size > address.length) return false;
    const b = this._b;
    const field = which === 'source' ? this.sourceOffset : this.destinationOffset;
    if (this._version === 4) adjustChecksumFor(b, this._o + 10, field, address, at, size);
    const check = this._transportChecksumAt();
    if (check >= 0) adjustChecksumFor(b, check, field, address, at, size, this._protocol === 17);
    b.set(address.subarray(at, at + size), field);
    return true;
  }

  /** Where the upper layer's checksum is if it covers the addresses (TCP, UDP, ICMPv6 in a first fragment); else -1. */
  private _transportChecksumAt(): number {
    if (this.fragmentOffset !== 0) return -1;
    const room = this.payloadLength;
    if (this._protocol === 6 && room >= 18) return this._payloadOffset + 16;
    if (this._protocol === 17 && room >= 8) return this._payloadOffset + 6;
    if (this._protocol === 58 && room >= 4) return this._payloadOffset + 2;
    return -1;
  }
}
