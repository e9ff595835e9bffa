// The `tuntap-ts/packet` entry: every packet helper and view, and nothing
// that loads the native addon, for programs that only parse or build packets.
export { formatIp, formatMac, parseCidr, parseIp, parseMac } from './address';
export type { Cidr, IpAddress } from './address';
export { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, arpReply, ethernetFrame, parseArp, parseEthernet } from './ethernet';
export type { ArpPacket, EthernetFrame } from './ethernet';
export { BPF, BPF_MAX_INSTRUCTIONS, bpfJump, bpfStatement, encodeFilter } from './filter';
export type { BpfInstruction } from './filter';
export { coalesce, coalesceTcp } from './gro';
export type { CoalesceAllOptions, CoalesceOptions } from './gro';
export { splitGso } from './gso';
export type { SplitResult } from './gso';
export { internetChecksum, ipVersion, ipv6PseudoHeaderSum, onesComplementSum } from './ip';
export { icmpPacket, ipv4UdpPacket, tcpPacket, udpPacket } from './build';
export type { IcmpPacketFields, IpPacketFields, TcpPacketFields, UdpDatagramFields, UdpPacketFields } from './build';
export { ipPacketLength, packPackets, splitIpStream } from './stream';
export type { Framing, PackOptions, SplitOptions, StreamSplit } from './stream';
export { echoReply, neighborAdvertisement, neighborReply } from './responders';
export type { NeighborAdvertisementFields } from './responders';
export { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, pcapFileHeader, pcapHeaderLength, pcapLinkType, pcapRecord } from './pcap';
export type { PcapSource } from './pcap';
export {
  GSO_ECN,
  GsoType,
  VIRTIO_NET_HDR_MRG_RXBUF_SIZE,
  VIRTIO_NET_HDR_SIZE,
  VirtioNetFlags,
  buildVirtioNetHeader,
  parseVirtioNetHeader,
  withVirtioNetHeader,
} from './virtio-net';
export type { GsoTypeValue, VirtioNetHeader } from './virtio-net';
export { IpProtocol, IpView } from './ip-view';
export { TcpFlags, TcpView, UdpView } from './transport-view';
export { IcmpType, IcmpView, Icmpv6Type, NdpOption } from './icmp-view';
export { ArpView, EthernetView } from './link-view';
export { PacketViews } from './packet-views';
export type { TransportKind } from './packet-views';
export type { ViewReason } from './view-common';
