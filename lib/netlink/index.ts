export { Netlink, NetlinkWatcher } from './netlink';
export type { AddAddressOptions, Link, NetlinkOptions, NetlinkWatcherEvents, RouteFilter, RouteOptions, WatchOptions } from './netlink';
export type { AddressInfo, LinkInfo, LinkStats, OperState, RouteInfo, Scope } from './codec';
