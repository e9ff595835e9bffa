// Allocation-free views of what a TAP device reads: Ethernet II frames with
// up to two 802.1Q/802.1ad VLAN tags, and ARP for IPv4 over Ethernet.
import { formatIp, formatMac } from './address';
import { LayerView } from './transport-view';
import { u16, u32, type ViewReason } from './view-common';

const VLAN_CTAG = 0x8100;
const VLAN_STAG = 0x88a8;

/**
 * An Ethernet II frame. `etherType` and `payloadOffset` are those after the
 * VLAN tags; `vlanId` is the outermost tag's (-1 untagged).
 *
 * ```ts
 * if (eth.reset(frame) && eth.etherType === ETHERTYPE_IPV6) ip.reset(frame, eth.payloadOffset, eth.payloadLength);
 * ```
 */
export class EthernetView extends LayerView {
  private _tags = 0;

  /** Points the view at a frame of `length` bytes at `offset`; false (and `reason`) if it is not well formed. */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    this._tags = 0;
    if (length < 14 || offset < 0 || offset + length > buffer.length) return this.invalid('truncated');
    let type = u16(buffer, offset + 12);
    while ((type === VLAN_CTAG || type === VLAN_STAG) && this._tags < 2) {
      if (18 + this._tags * 4 > length) return this.invalid('truncated');
      this._tags++;
      type = u16(buffer, offset + 12 + this._tags * 4);
    }
    return this.accept(buffer, offset, length);
  }

  protected override invalid(reason: ViewReason): false {
    this._tags = 0;
    return super.invalid(reason);
  }

  /** Where the 6-byte destination and source addresses are. */
  get destinationOffset(): number {
    return this.valid ? this.o : -1;
  }
  /** Where the 6-byte source address is. */
  get sourceOffset(): number {
    return this.valid ? this.o + 6 : -1;
  }
  /** The addresses as 'aa:bb:cc:dd:ee:ff' ('' while invalid); allocates. */
  destinationString(): string {
    return this.valid ? formatMac(this.b.subarray(this.o, this.o + 6)) : '';
  }
  /** The source address as 'aa:bb:cc:dd:ee:ff' ('' while invalid); allocates. */
  sourceString(): string {
    return this.valid ? formatMac(this.b.subarray(this.o + 6, this.o + 12)) : '';
  }
  /** The EtherType after any VLAN tags. */
  get etherType(): number {
    return u16(this.b, this.o + 12 + this._tags * 4);
  }
  /** How many VLAN tags (0-2) precede the EtherType. */
  get vlanTagCount(): number {
    return this._tags;
  }
  /** The outermost tag's VLAN id, priority (PCP) and drop eligible bit; -1, 0, false untagged. */
  get vlanId(): number {
    return this._tags === 0 ? -1 : u16(this.b, this.o + 14) & 0x0fff;
  }
  /** The outermost tag's priority (PCP); 0 untagged. */
  get vlanPriority(): number {
    return this._tags === 0 ? 0 : this.b[this.o + 14] >> 5;
  }
  /** The outermost tag's drop eligible bit; false untagged. */
  get vlanDropEligible(): boolean {
    return this._tags !== 0 && (this.b[this.o + 14] & 0x10) !== 0;
  }
  /** The inner tag's VLAN id of a double-tagged (QinQ) frame; -1 otherwise. */
  get innerVlanId(): number {
    return this._tags < 2 ? -1 : u16(this.b, this.o + 18) & 0x0fff;
  }
  /** Where the payload starts, after the VLAN tags. */
  get payloadOffset(): number {
    return this.valid ? this.o + 14 + this._tags * 4 : -1;
  }
  /** Bytes after the header and tags. */
  get payloadLength(): number {
    return this.valid ? this.len - 14 - this._tags * 4 : 0;
  }
}

/**
 * An ARP packet for IPv4 over Ethernet (RFC 826); anything else is 'bad-version'.
 *
 * ```ts
 * if (eth.etherType === ETHERTYPE_ARP && arp.reset(frame, eth.payloadOffset, eth.payloadLength) && arp.operation === 1) answer(arp);
 * ```
 */
export class ArpView extends LayerView {
  /** Points the view at an ARP packet of `length` bytes at `offset`; false (and `reason`) if it is not ARP for IPv4 over Ethernet. */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    if (length < 28 || offset < 0 || offset + length > buffer.length) return this.invalid('truncated');
    // Hardware type 1 (Ethernet), protocol IPv4, 6-byte and 4-byte addresses.
    if (u16(buffer, offset) !== 1 || u16(buffer, offset + 2) !== 0x0800 || buffer[offset + 4] !== 6 || buffer[offset + 5] !== 4)
      return this.invalid('bad-version');
    return this.accept(buffer, offset, 28);
  }
  override clear(): void {
    if (this._reason !== 'absent') this.invalid('absent');
  }

  /** 1: request, 2: reply. */
  get operation(): number {
    return u16(this.b, this.o + 6);
  }
  /** Where the sender's and target's 6-byte hardware addresses are. */
  get senderMacOffset(): number {
    return this.valid ? this.o + 8 : -1;
  }
  /** Where the target's 6-byte hardware address is. */
  get targetMacOffset(): number {
    return this.valid ? this.o + 18 : -1;
  }
  /** The IPv4 addresses as unsigned 32-bit numbers. */
  get senderIp4(): number {
    return u32(this.b, this.o + 14);
  }
  /** The target IPv4 address as an unsigned 32-bit number. */
  get targetIp4(): number {
    return u32(this.b, this.o + 24);
  }
  /** Text forms; allocate. */
  senderMacString(): string {
    return this.valid ? formatMac(this.b.subarray(this.o + 8, this.o + 14)) : '';
  }
  /** The sender's IPv4 address as text; allocates. */
  senderIpString(): string {
    return this.valid ? formatIp(this.b.subarray(this.o + 14, this.o + 18)) : '';
  }
  /** The target's hardware address as text; allocates. */
  targetMacString(): string {
    return this.valid ? formatMac(this.b.subarray(this.o + 18, this.o + 24)) : '';
  }
  /** The target's IPv4 address as text; allocates. */
  targetIpString(): string {
    return this.valid ? formatIp(this.b.subarray(this.o + 24, this.o + 28)) : '';
  }
}
