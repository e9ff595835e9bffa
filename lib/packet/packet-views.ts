// All the views of one packet, re-pointed together: what a reader of a
// device needs to look at every header of every packet without allocating.
import type { TunMode } from '../device/options';
import { IcmpView } from './icmp-view';
import { IpView } from './ip-view';
import { ArpView, EthernetView } from './link-view';
import { pcapHeaderLength, type PcapSource } from './pcap';
import { TcpView, UdpView } from './transport-view';
import type { ViewReason } from './view-common';

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
  readonly #ethernet: boolean;
  readonly #skip: number;
  #transport: TransportKind = 'none';
  #reason: ViewReason = 'absent';
  #start = -1;

  /** For a device (its mode, packetInfo and offload header), or a mode: 'tun' (IP packets) or 'tap' (Ethernet frames). */
  constructor(source: TunMode | PcapSource = 'tun') {
    this.#ethernet = (typeof source === 'string' ? source : source.mode) === 'tap';
    this.#skip = pcapHeaderLength(source);
  }

  /**
   * Points every view at the packet; the views of layers it does not carry
   * read 'absent'. True when every layer present is well formed; otherwise
   * {@link reason} is the first layer's reason.
   */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    const { ip, tcp, udp, icmp, arp } = this;
    this.#transport = 'none';
    tcp.clear();
    udp.clear();
    icmp.clear();
    arp.clear();
    ip.clear();
    if (length < this.#skip || offset + length > buffer.length) {
      this.ethernet.clear();
      this.#start = -1;
      return this.#done('truncated');
    }
    this.#start = offset;
    offset += this.#skip;
    length -= this.#skip;
    if (this.#ethernet) {
      const eth = this.ethernet;
      if (!eth.reset(buffer, offset, length)) return this.#done(eth.reason);
      const type = eth.etherType;
      if (type === 0x0806) return this.#done(arp.reset(buffer, eth.payloadOffset, eth.payloadLength) ? 'ok' : arp.reason);
      if (type !== 0x0800 && type !== 0x86dd) return this.#done('ok');
      offset = eth.payloadOffset;
      length = eth.payloadLength;
    }
    if (!ip.reset(buffer, offset, length)) return this.#done(ip.reason);
    if (ip.fragmentOffset !== 0) return this.#done('ok');
    const protocol = ip.protocol;
    if (protocol === 6) {
      this.#transport = 'tcp';
      return this.#done(tcp.reset(buffer, ip.payloadOffset, ip.payloadLength) ? 'ok' : tcp.reason);
    }
    if (protocol === 17) {
      this.#transport = 'udp';
      return this.#done(udp.reset(buffer, ip.payloadOffset, ip.payloadLength) ? 'ok' : udp.reason);
    }
    if (protocol === (ip.version === 6 ? 58 : 1)) {
      this.#transport = 'icmp';
      return this.#done(icmp.reset(buffer, ip.payloadOffset, ip.payloadLength, ip.version === 6 ? 6 : 4) ? 'ok' : icmp.reason);
    }
    this.#transport = 'other';
    return this.#done('ok');
  }

  #done(reason: ViewReason): boolean {
    this.#reason = reason;
    return reason === 'ok';
  }

  /** 'ok', or the reason of the first layer that is not well formed. */
  get reason(): ViewReason {
    return this.#reason;
  }
  /** Which view holds the upper layer ('none' for a non-IP frame, a non-first fragment or an invalid packet). */
  get transport(): TransportKind {
    return this.#transport;
  }
  /** Where the bytes in front of the frame or IP packet start (packet information, then virtio_net_hdr); -1 without any. */
  get headerOffset(): number {
    return this.#skip === 0 ? -1 : this.#start;
  }
  /** Bytes before the frame or IP packet: packet information (4) plus virtio_net_hdr (10 or 12). */
  get headerLength(): number {
    return this.#skip;
  }
}
