// All the views of one packet, re-pointed together: what a reader of a
// device needs to look at every header of every packet without allocating.
import type { TunMode } from '../device/options';
import { IcmpView } from './icmp-view';
import { IpView } from './ip-view';
import { ArpView, EthernetView } from './link-view';
import { pcapHeaderLength, type PcapSource } from './pcap';
import { TcpView, UdpView } from './transport-view';
import type { ViewReason } from './view-common';

// Which of the IP and ARP views the last reset() pointed at the packet.
const POINTED_IP = 1;
const POINTED_ARP = 2;

/** The upper layer {@link PacketViews.reset} found: which of the views holds it. */
export type TransportKind = 'tcp' | 'udp' | 'icmp' | 'other' | 'none';

/**
 * The views of a packet as a device reads it: for a TAP device the Ethernet
 * header (and ARP), then IP, then TCP, UDP or ICMP/ICMPv6. Made once per
 * device; reset() per packet. The packet information and virtio_net_hdr
 * headers a device may put in front are skipped ({@link headerOffset}).
 *
 * ```ts
 * const v = new PacketViews(dev);
 * dev.readBatches((slab, d, count) => {
 *   for (let i = 0; i < count; i++) {
 *     if (v.reset(slab, d[2 * i], d[2 * i + 1]) && v.transport === 'tcp') flows.add(v.ip, v.tcp);
 *   }
 * });
 * ```
 */
export class PacketViews {
  readonly ethernet = new EthernetView();
  readonly arp = new ArpView();
  readonly ip = new IpView();
  readonly tcp = new TcpView();
  readonly udp = new UdpView();
  readonly icmp = new IcmpView();
  private readonly _ethernet: boolean;
  private readonly _skip: number;
  // Nothing before the IP header: a TUN device without packet information or offload header.
  private readonly _bare: boolean;
  private _transport: TransportKind = 'none';
  private _reason: ViewReason = 'absent';
  private _start = -1;
  private _pointed = 0;

  /** For a device (its mode, packetInfo and offload header), or a mode: 'tun' (IP packets) or 'tap' (Ethernet frames). */
  constructor(source: TunMode | PcapSource = 'tun') {
    this._ethernet = (typeof source === 'string' ? source : source.mode) === 'tap';
    this._skip = pcapHeaderLength(source);
    this._bare = !this._ethernet && this._skip === 0;
  }

  /**
   * Points every view at the packet; the views of layers it does not carry
   * read 'absent'. True when every layer present is well formed; otherwise
   * {@link reason} is the first layer's reason.
   */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    return this._reset(buffer, offset, length);
  }

  // Every path in one method: too big for V8 to inline into the caller's loop, so it is compiled
  // on its own with the views' resets inlined, and the loop keeps its inlining budget for getters.
  private _reset(buffer: Uint8Array, offset: number, length: number): boolean {
    const { ip, tcp, udp, icmp, arp } = this;
    // An unfragmented IP packet with a whole TCP or UDP header, first (an IPv6 fragment header goes the long way).
    if (this._bare && ip.reset(buffer, offset, length)) {
      const protocol = ip.protocol;
      const whole = ip.version === 6 ? ip.fragmentHeaderOffset < 0 : ((buffer[offset + 6] & 0x1f) | buffer[offset + 7]) === 0;
      if (whole && protocol === 6 && tcp.reset(buffer, ip.payloadOffset, ip.payloadLength)) {
        this._transport = 'tcp';
        udp.clear();
        return this._pointedIp(offset);
      }
      if (whole && protocol === 17 && udp.reset(buffer, ip.payloadOffset, ip.payloadLength)) {
        this._transport = 'udp';
        tcp.clear();
        return this._pointedIp(offset);
      }
    }
    this._transport = 'none';
    this._pointed = 0;
    // The layers the packet carries, outermost first; the first layer's reason.
    let reason: ViewReason = 'ok';
    this._start = offset;
    if (length < this._skip || offset + length > buffer.length) {
      this.ethernet.clear();
      this._start = -1;
      reason = 'truncated';
    } else {
      offset += this._skip;
      length -= this._skip;
      let ipAt = true;
      if (this._ethernet) {
        const eth = this.ethernet;
        const type = eth.reset(buffer, offset, length) ? eth.etherType : -1;
        ipAt = type === 0x0800 || type === 0x86dd;
        if (type < 0) reason = eth.reason;
        else if (type === 0x0806) {
          this._pointed = POINTED_ARP;
          if (!arp.reset(buffer, eth.payloadOffset, eth.payloadLength)) reason = arp.reason;
        }
        offset = eth.payloadOffset;
        length = eth.payloadLength;
      }
      if (ipAt) {
        this._pointed = POINTED_IP;
        const protocol = ip.reset(buffer, offset, length) ? ip.protocol : -1;
        const version = ip.version;
        if (protocol < 0) reason = ip.reason;
        else if (ip.fragmentOffset !== 0) this._transport = 'none';
        else if (protocol === 6) {
          this._transport = 'tcp';
          if (!tcp.reset(buffer, ip.payloadOffset, ip.payloadLength)) reason = tcp.reason;
        } else if (protocol === 17) {
          this._transport = 'udp';
          if (!udp.reset(buffer, ip.payloadOffset, ip.payloadLength)) reason = udp.reason;
        } else if (protocol === (version === 6 ? 58 : 1)) {
          this._transport = 'icmp';
          if (!icmp.reset(buffer, ip.payloadOffset, ip.payloadLength, version === 6 ? 6 : 4)) reason = icmp.reason;
        } else this._transport = 'other';
      }
    }
    // Only the views this packet left out are cleared: clearing one about to be reset doubles its cost.
    const transport = this.transport;
    if ((this._pointed & POINTED_IP) === 0) ip.clear();
    if ((this._pointed & POINTED_ARP) === 0) arp.clear();
    if (transport !== 'tcp') tcp.clear();
    if (transport !== 'udp') udp.clear();
    if (transport !== 'icmp') icmp.clear();
    this._reason = reason;
    return reason === 'ok';
  }

  // What the fast path of reset() leaves: the views neither TCP nor UDP use, and the state.
  private _pointedIp(start: number): true {
    this.icmp.clear();
    this.arp.clear();
    this._start = start;
    this._pointed = POINTED_IP;
    this._reason = 'ok';
    return true;
  }

  /** 'ok', or the reason of the first layer that is not well formed. */
  get reason(): ViewReason {
    return this._reason;
  }
  /** Which view holds the upper layer ('none' for a non-IP frame, a non-first fragment or an invalid packet). */
  get transport(): TransportKind {
    return this._transport;
  }
  /** Where the bytes in front of the frame or IP packet start (packet information, then virtio_net_hdr); -1 without any. */
  get headerOffset(): number {
    return this._skip === 0 ? -1 : this._start;
  }
  /** Bytes before the frame or IP packet: packet information (4) plus virtio_net_hdr (10 or 12). */
  get headerLength(): number {
    return this._skip;
  }
}
