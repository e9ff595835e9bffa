export { Netlink } from './api';
export type { AddAddressOptions, Link, RequestOptions, RouteFilter, RouteOptions } from './requests';
export { NetlinkWatcher } from './watcher';
export type { NetlinkWatcherEvents, WatchOptions } from './watcher';
export type { NetlinkOptions } from './netns';
export type { AddressInfo, LinkInfo, LinkStats, OperState, RouteInfo, Scope } from './decode';
