export { TunDevice, validateName } from './tun-device';
export type { TunDeviceEvents, TunDeviceOptions, TunMode } from './tun-device';
export { TunError, InvalidArgumentError, OutOfRangeError, StateError, errnoName } from './errors';
export type { ErrorContext } from './errors';
export { echoReply, internetChecksum, ipVersion, ipv4UdpPacket, ipv6PseudoHeaderSum, onesComplementSum } from './packet';
export type { UdpPacketFields } from './packet';
export { Netlink, NetlinkWatcher } from './netlink';
export type {
  AddAddressOptions,
  AddressInfo,
  Link,
  LinkInfo,
  LinkStats,
  NetlinkWatcherEvents,
  OperState,
  RouteFilter,
  RouteInfo,
  RouteOptions,
  Scope,
  WatchOptions,
} from './netlink';
export { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, arpReply, ethernetFrame, parseArp, parseEthernet } from './ethernet';
export type { ArpPacket, EthernetFrame } from './ethernet';
export { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, pcapFileHeader, pcapLinkType, pcapRecord } from './pcap';
