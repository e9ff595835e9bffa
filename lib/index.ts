export { TunDevice } from './tun-device';
export type {
  PacketBatchHandler,
  TunDeviceStats,
  ReadBatchesOptions,
  TunCreateOptions,
  TunDeleteOptions,
  TunDeviceEvents,
  TunDeviceOptions,
  TunFromFdOptions,
  TunMode,
} from './tun-device';
export type { TunFlags } from './tun-kernel';
export { BPF, BPF_MAX_INSTRUCTIONS, bpfJump, bpfStatement, encodeFilter } from './filter';
export type { BpfInstruction } from './filter';
export { TunError, InvalidArgumentError, OutOfRangeError, StateError, errnoName } from './errors';
export type { ErrorContext } from './errors';
export { echoReply, internetChecksum, ipVersion, ipv4UdpPacket, ipv6PseudoHeaderSum, onesComplementSum } from './packet';
export type { UdpPacketFields } from './packet';
export { Netlink, NetlinkWatcher } from './netlink';
export { formatIp, formatMac, parseCidr, parseIp, parseMac } from './netlink/address';
export type { Cidr, IpAddress } from './netlink/address';
export type {
  AddAddressOptions,
  AddressInfo,
  Link,
  LinkInfo,
  LinkStats,
  NetlinkOptions,
  NetlinkWatcherEvents,
  OperState,
  RouteFilter,
  RouteInfo,
  RouteOptions,
  Scope,
  WatchOptions,
} from './netlink';
export { OffloadNotSupportedError } from './offload';
export type { EnabledOffloads, OffloadOptions } from './offload';
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
export { splitGso } from './gso';
export type { SplitResult } from './gso';
export { coalesceTcp } from './gro';
export type { CoalesceOptions } from './gro';
export { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, arpReply, ethernetFrame, parseArp, parseEthernet } from './ethernet';
export type { ArpPacket, EthernetFrame } from './ethernet';
export { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, pcapFileHeader, pcapLinkType, pcapRecord } from './pcap';
export type { PacketReadable } from './packet-stream';
export type { EventMap, TypedEmitter } from './typed-emitter';
