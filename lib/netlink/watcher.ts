// NetlinkWatcher: typed events for changes to links, addresses and routes in
// a network namespace, from a socket subscribed to rtnetlink's multicast groups.
import { EventEmitter } from 'node:events';
import { abortError, listenForAbort } from '../internal/abort';
import { ENOBUFS } from '../internal/errno';
import { TunError, fromNative } from '../internal/errors';
import type { TypedEmitter } from '../internal/typed-emitter';
import { validateAbortSignal, validateBoolean } from '../internal/validators';
import { NetlinkClient } from './client';
import { AF_UNSPEC, MalformedMessage, RTM, RTMGRP, type NetlinkMessage } from './codec';
import { decodeAddress, decodeLink, decodeRoute, linkFamily, type AddressInfo, type LinkInfo, type RouteInfo } from './decode';
import { netnsContext, validateNetns, type NetlinkOptions } from './netns';

/**
 * What a {@link NetlinkWatcher} subscribes to.
 *
 * ```ts
 * const watcher = await Netlink.watch({ links: true, addresses: false, routes: true });
 * ```
 */
export interface WatchOptions extends NetlinkOptions {
  /** Link events ('link', 'linkRemoved'). Default true. */
  links?: boolean;
  /** IPv4 and IPv6 address events ('address', 'addressRemoved'). Default true. */
  addresses?: boolean;
  /** Route events ('route', 'routeRemoved') for the main and other tables. Default false. */
  routes?: boolean;
  /**
   * Closes the watcher when aborted; aborted before the watcher is ready,
   * watch() rejects with an AbortError.
   */
  signal?: AbortSignal;
}

/**
 * The events a NetlinkWatcher emits.
 *
 * ```ts
 * watcher.on('linkRemoved', (link) => console.log(`${link.name} is gone`));
 * ```
 */
export type NetlinkWatcherEvents = {
  /** A link appeared or changed (flags, MTU, name, carrier, ...). */
  link: (link: LinkInfo) => void;
  /** A link went away. */
  linkRemoved: (link: LinkInfo) => void;
  /** An address was added (or its flags changed). */
  address: (address: AddressInfo) => void;
  /** An address was removed. */
  addressRemoved: (address: AddressInfo) => void;
  /** A route was added or replaced (with `routes: true`). */
  route: (route: RouteInfo) => void;
  /** A route was removed (with `routes: true`). */
  routeRemoved: (route: RouteInfo) => void;
  /**
   * ENOBUFS: the kernel dropped events because this socket's queue was full;
   * re-read what you track. Emitted only when someone listens for 'error'.
   */
  error: (error: TunError) => void;
};

const TypedEventEmitter = EventEmitter as unknown as new () => TypedEmitter<NetlinkWatcherEvents>;

/** @internal NetlinkWatcher[kOpen](options): what Netlink.watch() does. */
export const kOpen = Symbol('open');

/**
 * Typed events for every change to links and addresses in this network
 * namespace, whoever made it (this process, `ip` in another, the kernel).
 *
 * ```ts
 * const watcher = await Netlink.watch();
 * watcher.on('link', (link) => console.log(link.name, link.up ? 'up' : 'down'));
 * // ...
 * watcher.close();
 * ```
 */
export class NetlinkWatcher extends TypedEventEmitter implements Disposable {
  readonly #client: NetlinkClient;
  readonly #stopListening: (() => void) | undefined;

  /**
   * @internal Netlink.watch(): the socket is made and bound on the thread pool. Subscribed from
   * its bind on, events queued before the caller has the watcher wait for its first listeners.
   */
  static async [kOpen](options: WatchOptions = {}): Promise<NetlinkWatcher> {
    const netns = validateNetns(options);
    const links = validateBoolean(options.links, 'options.links', true);
    const addresses = validateBoolean(options.addresses, 'options.addresses', true);
    const routes = validateBoolean(options.routes, 'options.routes', false);
    const signal = options.signal;
    if (signal !== undefined) validateAbortSignal(signal, 'options.signal');
    if (signal?.aborted) throw abortError(signal);
    const groups =
      (links ? RTMGRP.LINK : 0) |
      (addresses ? RTMGRP.IPV4_IFADDR | RTMGRP.IPV6_IFADDR : 0) |
      (routes ? RTMGRP.IPV4_ROUTE | RTMGRP.IPV6_ROUTE : 0);
    let watcher: NetlinkWatcher | undefined;
    let client: NetlinkClient;
    try {
      client = await NetlinkClient.open(
        groups,
        {
          // The poll that calls these starts after `watcher` is set (on a later turn of the loop).
          onMessage: (m, reply) => {
            if (!reply && watcher !== undefined) watcher.#event(m);
          },
          onTrouble: (errno, syscall, detail) => {
            if (watcher !== undefined) watcher.#trouble(errno, syscall, detail);
          },
        },
        true,
        netns,
        signal,
      );
    } catch (error) {
      throw fromNative(error, netnsContext(netns));
    }
    watcher = new NetlinkWatcher(client, signal);
    // Aborted between the socket's arrival and here: no listener would fire now.
    if (signal?.aborted) {
      watcher.close();
      throw abortError(signal);
    }
    return watcher;
  }

  /** @internal Use Netlink.watch(). */
  constructor(client: NetlinkClient, signal?: AbortSignal) {
    super();
    this.#client = client;
    this.#stopListening = signal === undefined ? undefined : listenForAbort(signal, () => this.close());
  }

  /** Whether close() has run. */
  get closed(): boolean {
    return this.#client.closed;
  }

  /**
   * The bytes of events the kernel queues for this watcher before it drops them (ENOBUFS):
   * what was asked with CAP_NET_ADMIN, else capped by net.core.rmem_max.
   */
  get receiveBufferSize(): number {
    return this.#client.receiveBufferSize;
  }

  /** Let the process exit while the watcher is open. */
  unref(): this {
    this.#client.setKeepAlive(false);
    return this;
  }

  /** Undo unref(). */
  ref(): this {
    this.#client.setKeepAlive(true);
    return this;
  }

  /** Stops watching and closes the socket. Idempotent. */
  close(): void {
    // A long-lived signal must not keep a closed watcher reachable.
    this.#stopListening?.();
    this.#client.close();
  }

  /** `using` support: closes at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  #trouble(errno: number, syscall: string, detail: string | undefined): void {
    if (this.listenerCount('error') === 0) return;
    const hint = errno === ENOBUFS ? 'Events were lost (the socket queue overflowed): re-read the state you track' : detail;
    this.emit('error', new TunError(errno, `netlink ${syscall}`, { hint }));
  }

  #event(m: NetlinkMessage): void {
    switch (m.type) {
      case RTM.NEWLINK:
      case RTM.DELLINK: {
        // AF_INET6 link messages carry IPv6 per-link data, not the link itself.
        if (linkFamily(m) !== AF_UNSPEC) return;
        const link = decodeLink(m);
        if (!(link instanceof MalformedMessage)) this.emit(m.type === RTM.NEWLINK ? 'link' : 'linkRemoved', link);
        return;
      }
      case RTM.NEWADDR:
      case RTM.DELADDR: {
        const address = decodeAddress(m);
        if (!(address instanceof MalformedMessage)) this.emit(m.type === RTM.NEWADDR ? 'address' : 'addressRemoved', address);
        return;
      }
      case RTM.NEWROUTE:
      case RTM.DELROUTE: {
        const route = decodeRoute(m);
        if (!(route instanceof MalformedMessage)) this.emit(m.type === RTM.NEWROUTE ? 'route' : 'routeRemoved', route);
        return;
      }
      default:
    }
  }
}
