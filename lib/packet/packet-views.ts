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
  private _transport: TransportKind = 'none';
  private _reason: ViewReason = 'absent';
  private _start = -1;
  private _pointed = 0;

  /** For a device (its mode, packetInfo and offload header), or a mode: 'tun' (IP packets) or 'tap' (Ethernet frames). */
  constructor(source: TunMode | PcapSource = 'tun') {
    this._ethernet = (typeof source === 'string' ? source : source.mode) === 'tap';
    this._skip = pcapHeaderLength(source);
  }

  /**
   * Points every view at the packet; the views of layers it does not carry
   * read 'absent'. True when every layer present is well formed; otherwise
   * {@link reason} is the first layer's reason.
   */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    this._transport = 'none';
    this._pointed = 0;
    const reason = this._point(buffer, offset, length);
    // Only the views this packet left out are cleared: clearing one about to be reset doubles its cost.
    const transport = this.transport;
    if ((this._pointed & POINTED_IP) === 0) this.ip.clear();
    if ((this._pointed & POINTED_ARP) === 0) this.arp.clear();
    if (transport !== 'tcp') this.tcp.clear();
    if (transport !== 'udp') this.udp.clear();
    if (transport !== 'icmp') this.icmp.clear();
    this._reason = reason;
    return reason === 'ok';
  }

  /** Resets the views of the layers the packet carries, outermost first; the first layer's reason. */
  private _point(buffer: Uint8Array, offset: number, length: number): ViewReason {
    const { ip, tcp, udp, icmp, arp } = this;
    if (length < this._skip || offset + length > buffer.length) {
      this.ethernet.clear();
      this._start = -1;
      return 'truncated';
    }
    this._start = offset;
    offset += this._skip;
    length -= this._skip;
    if (this._ethernet) {
      const eth = this.ethernet;
      if (!eth.reset(buffer, offset, length)) return eth.reason;
      const type = eth.etherType;
      if (type === 0x0806) {
        this._pointed = POINTED_ARP;
        return arp.reset(buffer, eth.payloadOffset, eth.payloadLength) ? 'ok' : arp.reason;
      }
      if (type !== 0x0800 && type !== 0x86dd) return 'ok';
      offset = eth.payloadOffset;
      length = eth.payloadLength;
    }
    this._pointed = POINTED_IP;
    if (!ip.reset(buffer, offset, length)) return ip.reason;
    if (ip.fragmentOffset !== 0) return 'ok';
    const protocol = ip.protocol;
    if (protocol === 6) {
      this._transport = 'tcp';
      return tcp.reset(buffer, ip.payloadOffset, ip.payloadLength) ? 'ok' : tcp.reason;
    }
    if (protocol === 17) {
      this._transport = 'udp';
      return udp.reset(buffer, ip.payloadOffset, ip.payloadLength) ? 'ok' : udp.reason;
    }
    const version = ip.version;
    if (protocol === (version === 6 ? 58 : 1)) {
      this._transport = 'icmp';
      return icmp.reset(buffer, ip.payloadOffset, ip.payloadLength, version === 6 ? 6 : 4) ? 'ok' : icmp.reason;
    }
    this._transport = 'other';
    return 'ok';
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
