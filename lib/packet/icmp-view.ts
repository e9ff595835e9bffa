// An allocation-free view of ICMP (RFC 792) and ICMPv6 (RFC 4443) messages:
// echo, errors with the packet they quote, and IPv6 neighbour discovery
// (RFC 4861) with its options, which are walked once at reset().
import { formatIp, formatMac } from './address';
import type { IpView } from './ip-view';
import { LayerView } from './transport-view';
import { u16, u32, type ViewReason } from './view-common';

/** ICMPv4 types the view names. */
export const IcmpType = {
  ECHO_REPLY: 0,
  DESTINATION_UNREACHABLE: 3,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;

/** ICMPv6 types the view names. */
export const Icmpv6Type = {
  DESTINATION_UNREACHABLE: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAMETER_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130,
  MLD_REPORT: 131,
  MLD_DONE: 132,
  ROUTER_SOLICITATION: 133,
  ROUTER_ADVERTISEMENT: 134,
  NEIGHBOR_SOLICITATION: 135,
  NEIGHBOR_ADVERTISEMENT: 136,
  REDIRECT: 137,
  MLDV2_REPORT: 143,
} as const;

/** NDP option types (RFC 4861 section 4.6). */
export const NdpOption = {
  SOURCE_LINK_LAYER_ADDRESS: 1,
  TARGET_LINK_LAYER_ADDRESS: 2,
  PREFIX_INFORMATION: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
} as const;

// Where the options start in each NDP message (its fixed part).
function ndpFixedLength(type: number): number {
  if (type === 133) return 8;
  if (type === 134) return 16;
  if (type === 135 || type === 136) return 24;
  if (type === 137) return 40;
  return 0;
}

/**
 * An ICMP or ICMPv6 message. Getters that do not apply to the message's type
 * read as 0, or -1 for an offset.
 *
 * ```ts
 * if (ip.reset(packet) && icmp.resetFrom(ip) && icmp.isEchoRequest) console.log('ping', icmp.identifier, icmp.sequence);
 * ```
 */
export class IcmpView extends LayerView {
  private _version: 4 | 6 = 4;
  private _ndpOptions = -1;
  private _sourceLinkLayer = -1;
  private _targetLinkLayer = -1;
  private _prefixInformation = -1;
  private _mtuOption = -1;

  /** Points the view at an ICMP (`version` 4) or ICMPv6 (`version` 6) message. */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset, version: 4 | 6 = 4): boolean {
    this._version = version;
    this._ndpOptions = this._sourceLinkLayer = this._targetLinkLayer = this._prefixInformation = this._mtuOption = -1;
    if (length < 8 || offset < 0 || offset + length > buffer.length) return this.invalid('truncated');
    if (version === 6) {
      const fixed = ndpFixedLength(buffer[offset]);
      if (fixed > length) return this.invalid('truncated');
      if (fixed > 0 && !this._walkNdpOptions(buffer, offset + fixed, offset + length)) return this.invalid('bad-option');
    }
    return this.accept(buffer, offset, length);
  }

  /** Points the view at `ip`'s ICMP (IPv4) or ICMPv6 (IPv6) message; false ('absent') for anything else. */
  resetFrom(ip: IpView): boolean {
    const protocol = ip.version === 6 ? 58 : 1;
    if (!ip.valid || ip.protocol !== protocol || ip.fragmentOffset !== 0) return this.invalid('absent');
    return this.reset(ip.buffer, ip.payloadOffset, ip.payloadLength, ip.version === 6 ? 6 : 4);
  }
  override clear(): void {
    if (this._reason !== 'absent') this.invalid('absent');
  }

  protected override invalid(reason: ViewReason): false {
    this._ndpOptions = this._sourceLinkLayer = this._targetLinkLayer = this._prefixInformation = this._mtuOption = -1;
    return super.invalid(reason);
  }

  // Each option is type, length in units of 8 bytes (0 is illegal), data.
  private _walkNdpOptions(b: Uint8Array, at: number, end: number): boolean {
    this._ndpOptions = at;
    while (at + 2 <= end) {
      const size = b[at + 1] * 8;
      if (size === 0 || at + size > end) return false;
      const type = b[at];
      if (type === 1 && this._sourceLinkLayer < 0) this._sourceLinkLayer = at;
      else if (type === 2 && this._targetLinkLayer < 0) this._targetLinkLayer = at;
      else if (type === 3 && this._prefixInformation < 0 && size >= 32) this._prefixInformation = at;
      else if (type === 5 && this._mtuOption < 0 && size >= 8) this._mtuOption = at;
      at += size;
    }
    return at === end;
  }

  /** 4 for ICMP, 6 for ICMPv6. */
  get version(): 4 | 6 {
    return this._version;
  }
  /** The message type: {@link IcmpType} or {@link Icmpv6Type}. */
  get type(): number {
    return this.b[this.o];
  }
  /** The message code. */
  get code(): number {
    return this.b[this.o + 1];
  }
  /** The checksum field as it is in the message. */
  get checksum(): number {
    return u16(this.b, this.o + 2);
  }
  /** An echo request (ping) of its version. */
  get isEchoRequest(): boolean {
    return this.valid && this.type === (this._version === 6 ? 128 : 8);
  }
  /** An echo reply of its version. */
  get isEchoReply(): boolean {
    return this.valid && this.type === (this._version === 6 ? 129 : 0);
  }
  /** An error message that quotes the packet that caused it. */
  get isError(): boolean {
    if (!this.valid) return false;
    const t = this.type;
    return this._version === 6 ? t >= 1 && t <= 4 : t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
  }
  /** Echo identifier and sequence number; 0 for other types. */
  get identifier(): number {
    return this.isEchoRequest || this.isEchoReply ? u16(this.b, this.o + 4) : 0;
  }
  /** Echo sequence number; 0 for other types. */
  get sequence(): number {
    return this.isEchoRequest || this.isEchoReply ? u16(this.b, this.o + 6) : 0;
  }
  /** The MTU of ICMPv6 packet too big, or of ICMPv4 fragmentation needed (type 3 code 4); else 0. */
  get mtu(): number {
    if (this._version === 6) return this.type === 2 && this.valid ? u32(this.b, this.o + 4) : 0;
    return this.type === 3 && this.code === 4 ? u16(this.b, this.o + 6) : 0;
  }
  /** Where the quoted packet of an error message starts (an IpView can read it); -1 for other types. */
  get quotedOffset(): number {
    return this.isError ? this.o + 8 : -1;
  }
  /** The 32-bit word after type, code and checksum (pointer, gateway, unused). */
  get restOfHeader(): number {
    return u32(this.b, this.o + 4);
  }
  /** Where the data of an echo message starts; -1 for other types. */
  get payloadOffset(): number {
    return this.isEchoRequest || this.isEchoReply ? this.o + 8 : -1;
  }
  /** Bytes of echo data; 0 for other types. */
  get payloadLength(): number {
    return this.isEchoRequest || this.isEchoReply ? this.len - 8 : 0;
  }

  /** Where a neighbour solicitation's, advertisement's or redirect's target address is; -1 for other types. */
  get targetAddressOffset(): number {
    const t = this.type;
    return this._version === 6 && this.valid && (t === 135 || t === 136 || t === 137) ? this.o + 8 : -1;
  }
  /** The target address as RFC 5952 text ('' when absent); allocates. */
  targetAddressString(): string {
    const at = this.targetAddressOffset;
    return at < 0 ? '' : formatIp(this.b.subarray(at, at + 16));
  }
  /** Neighbour advertisement flags: router (R), solicited (S), override (O). */
  get routerFlag(): boolean {
    return this._version === 6 && this.type === 136 && (this.b[this.o + 4] & 0x80) !== 0;
  }
  /** Neighbour advertisement: solicited (S). */
  get solicitedFlag(): boolean {
    return this._version === 6 && this.type === 136 && (this.b[this.o + 4] & 0x40) !== 0;
  }
  /** Neighbour advertisement: override (O). */
  get overrideFlag(): boolean {
    return this._version === 6 && this.type === 136 && (this.b[this.o + 4] & 0x20) !== 0;
  }
  /** Router advertisement: current hop limit, M and O flags, router lifetime (s), reachable time and retransmit timer (ms). */
  get curHopLimit(): number {
    return this._isRa() ? this.b[this.o + 4] : 0;
  }
  /** Router advertisement: managed address configuration (M). */
  get managedFlag(): boolean {
    return this._isRa() && (this.b[this.o + 5] & 0x80) !== 0;
  }
  /** Router advertisement: other configuration (O). */
  get otherConfigFlag(): boolean {
    return this._isRa() && (this.b[this.o + 5] & 0x40) !== 0;
  }
  /** Router advertisement: router lifetime in seconds. */
  get routerLifetime(): number {
    return this._isRa() ? u16(this.b, this.o + 6) : 0;
  }
  /** Router advertisement: reachable time in milliseconds. */
  get reachableTime(): number {
    return this._isRa() ? u32(this.b, this.o + 8) : 0;
  }
  /** Router advertisement: retransmit timer in milliseconds. */
  get retransTimer(): number {
    return this._isRa() ? u32(this.b, this.o + 12) : 0;
  }
  /** Where the NDP options start; -1 unless this is an NDP message. */
  get ndpOptionsOffset(): number {
    return this._ndpOptions;
  }
  /** Where the source / target link-layer address options' addresses are (6 bytes); -1 when absent. */
  get sourceLinkLayerOffset(): number {
    return this._sourceLinkLayer < 0 ? -1 : this._sourceLinkLayer + 2;
  }
  /** Where the target link-layer address option's address is (6 bytes); -1 when absent. */
  get targetLinkLayerOffset(): number {
    return this._targetLinkLayer < 0 ? -1 : this._targetLinkLayer + 2;
  }
  /** The source link-layer address option as 'aa:bb:...' ('' when absent); allocates. */
  sourceLinkLayerString(): string {
    const at = this.sourceLinkLayerOffset;
    return at < 0 ? '' : formatMac(this.b.subarray(at, at + 6));
  }
  /** The target link-layer address option as 'aa:bb:...' ('' when absent); allocates. */
  targetLinkLayerString(): string {
    const at = this.targetLinkLayerOffset;
    return at < 0 ? '' : formatMac(this.b.subarray(at, at + 6));
  }
  /** The first prefix information option: prefix length, L and A flags, lifetimes and where the 16-byte prefix is (-1 when absent). */
  get prefixOffset(): number {
    return this._prefixInformation < 0 ? -1 : this._prefixInformation + 16;
  }
  /** The first prefix information option's prefix length; 0 when absent. */
  get prefixLength(): number {
    return this._prefixInformation < 0 ? 0 : this.b[this._prefixInformation + 2];
  }
  /** The first prefix information option's flags byte (L 0x80, A 0x40). */
  get prefixFlags(): number {
    return this._prefixInformation < 0 ? 0 : this.b[this._prefixInformation + 3];
  }
  /** The first prefix information option's valid lifetime in seconds. */
  get prefixValidLifetime(): number {
    return this._prefixInformation < 0 ? 0 : u32(this.b, this._prefixInformation + 4);
  }
  /** The first prefix information option's preferred lifetime in seconds. */
  get prefixPreferredLifetime(): number {
    return this._prefixInformation < 0 ? 0 : u32(this.b, this._prefixInformation + 8);
  }
  /** The MTU option's value; 0 when absent. */
  get mtuOption(): number {
    return this._mtuOption < 0 ? 0 : u32(this.b, this._mtuOption + 4);
  }

  private _isRa(): boolean {
    return this._version === 6 && this.valid && this.type === 134;
  }
}
