export { TunDevice } from './tun-device';
// Every packet helper and view, also reachable without the addon as tuntap-ts/packet.
export * from './packet';
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
export { TunError, InvalidArgumentError, OutOfRangeError, StateError, errnoName } from './internal/errors';
export type { ErrorContext, StateErrorCode } from './internal/errors';
export { Netlink, NetlinkWatcher } from './netlink';
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
export type { PacketReadable } from './device/packet-readable';
export type { EventMap, TypedEmitter } from './internal/typed-emitter';
export * from './tunnel';
