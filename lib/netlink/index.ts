export { Netlink, NetlinkWatcher } from './api';
export type { AddAddressOptions, Link, NetlinkOptions, NetlinkWatcherEvents, RouteFilter, RouteOptions, WatchOptions } from './api';
export type { AddressInfo, LinkInfo, LinkStats, OperState, RouteInfo, Scope } from './codec';
