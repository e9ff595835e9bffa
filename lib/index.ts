export { TunDevice } from './tun-device';
export type {
  PacketBatchHandler,
  ReadBatchesOptions,
  ReaderThreadOptions,
  TunCreateOptions,
  TunDeleteOptions,
  TunDeviceOptions,
  TunFromFdOptions,
  TunMode,
} from './device/options';
export type { TunDeviceEvents } from './device/events';
export type { TunDeviceStats } from './device/stats';
export type { TunFlags } from './device/kernel';
export { BPF, BPF_MAX_INSTRUCTIONS, bpfJump, bpfStatement, encodeFilter } from './packet/filter';
export type { BpfInstruction } from './packet/filter';
export { TunError, InvalidArgumentError, OutOfRangeError, StateError, errnoName } from './internal/errors';
export type { ErrorContext, StateErrorCode } from './internal/errors';
export { echoReply, internetChecksum, ipVersion, ipv4UdpPacket, ipv6PseudoHeaderSum, onesComplementSum } from './packet/ip';
export type { UdpPacketFields } from './packet/ip';
export { Netlink, NetlinkWatcher } from './netlink';
export { formatIp, formatMac, parseCidr, parseIp, parseMac } from './packet/address';
export type { Cidr, IpAddress } from './packet/address';
export type {
  AddAddressOptions,
  AddressInfo,
  Link,
  LinkInfo,
  LinkStats,
  NetlinkOptions,
  NetlinkWatcherEvents,
  OperState,
  RequestOptions,
  RouteFilter,
  RouteInfo,
  RouteOptions,
  Scope,
  WatchOptions,
} from './netlink';
export { OffloadNotSupportedError } from './device/offload';
export type { EnabledOffloads, OffloadOptions } from './device/offload';
export {
  GSO_ECN,
  GsoType,
  VIRTIO_NET_HDR_MRG_RXBUF_SIZE,
  VIRTIO_NET_HDR_SIZE,
  VirtioNetFlags,
  buildVirtioNetHeader,
  parseVirtioNetHeader,
  withVirtioNetHeader,
} from './packet/virtio-net';
export type { GsoTypeValue, VirtioNetHeader } from './packet/virtio-net';
export { splitGso } from './packet/gso';
export type { SplitResult } from './packet/gso';
export { coalesceTcp } from './packet/gro';
export type { CoalesceOptions } from './packet/gro';
export {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  arpReply,
  ethernetFrame,
  parseArp,
  parseEthernet,
} from './packet/ethernet';
export type { ArpPacket, EthernetFrame } from './packet/ethernet';
export {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PcapWriter,
  pcapFileHeader,
  pcapHeaderLength,
  pcapLinkType,
  pcapRecord,
} from './packet/pcap';
export type { PcapSource } from './packet/pcap';
export type { PacketReadable } from './device/packet-readable';
export type { EventMap, TypedEmitter } from './internal/typed-emitter';
export * from './tunnel';
