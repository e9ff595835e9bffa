// The public rtnetlink API: addresses, links and routes, read and changed
// through the library's own netlink socket (never by running `ip`).
import { EBADMSG, EINTR } from '../internal/errno';
import { TunError, errnoName, fromNative, invalidValue } from '../internal/errors';
import type { NetnsTarget } from '../internal/native';
import { validateBoolean, validateInteger, validateObject } from '../internal/validators';
import { networkOf, parseCidr, parseIp, parseMac } from '../packet/address';
import { NetlinkClient, type ErrorFactory, type Request } from './client';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFF_UP,
  IFLA,
  NLM_F,
  RTA,
  RTM,
  RTM_F_CLONED,
  RTN_UNICAST,
  RTPROT_STATIC,
  RT_SCOPE,
  RT_TABLE_MAIN,
  attr,
  ifaddrmsg,
  ifinfomsg,
  messageTypeName,
  rtmsg,
  type Attribute,
  type NetlinkMessage,
} from './codec';
import {
  decodeAddress,
  decodeLink,
  decodeRoute,
  decodeTunLink,
  linkFamily,
  type AddressInfo,
  type LinkInfo,
  type RouteInfo,
  type TunLinkInfo,
} from './decode';
import { netnsContext, validateNetns, type NetlinkOptions } from './netns';
import {
  addressHint,
  addressRequest,
  checkLink,
  decodeAll,
  genericHint,
  linkRequest,
  requestSignal,
  routeHint,
  setLinkHint,
  type AddAddressOptions,
  type Link,
  type RequestOptions,
  type RouteFilter,
  type RouteOptions,
} from './requests';
import { NetlinkWatcher, kOpen, type WatchOptions } from './watcher';

const MAX_U32 = 0xffffffff;
/** A dump the kernel flags as inconsistent (NLM_F_DUMP_INTR) is taken again, this many times at most. */
const DUMP_ATTEMPTS = 3;

/** @internal Links by index whose names errors should show (devices register theirs). */
export const kLinkNames = Symbol('linkNames');
/** @internal A TUN/TAP link's own details (TunDevice.open and delete). */
export const kTunLink = Symbol('tunLink');
/** @internal RTM_DELLINK by index (TunDevice.delete). */
export const kDeleteLink = Symbol('deleteLink');

/**
 * The library's rtnetlink client: one socket, any number of requests in flight, each settling when
 * the kernel answers and taking an AbortSignal ({@link RequestOptions}); holds the event loop only
 * while one is in flight. An inconsistent dump is retried; three in a row reject with 'EINTR'.
 *
 * ```ts
 * const nl = await Netlink.open();
 * await nl.addAddress('tun0', '10.0.0.1/24');
 * await nl.setUp('tun0');
 * console.log(await nl.link('tun0'));
 * nl.close();
 * ```
 */
export class Netlink implements Disposable {
  readonly #client: NetlinkClient;
  /** @internal */
  readonly [kLinkNames] = new Map<number, string>();

  /**
   * Opens a request socket. Needs CAP_NET_ADMIN for changes, not for reading.
   * With `netns` (a file such as '/var/run/netns/NAME' or '/proc/PID/ns/net')
   * the socket, and every call on it, speaks for that network namespace.
   * The socket is made on the thread pool: entering the namespace does not
   * stall the event loop.
   */
  static async open(options: NetlinkOptions = {}): Promise<Netlink> {
    const netns = validateNetns(options);
    try {
      return new Netlink(await NetlinkClient.open(0, {}, false, netns));
    } catch (error) {
      throw fromNative(error, netnsContext(netns));
    }
  }

  /**
   * Opens a socket subscribed to link, address and route changes; see {@link NetlinkWatcher}.
   * With `signal`, the watcher closes when it aborts.
   *
   * ```ts
   * const watcher = await Netlink.watch({ signal: controller.signal });
   * watcher.on('address', (a) => console.log(`${a.address}/${a.prefixLength} on ${a.index}`));
   * ```
   */
  static async watch(options: WatchOptions = {}): Promise<NetlinkWatcher> {
    return NetlinkWatcher[kOpen](options);
  }

  /** @internal Use Netlink.open(). */
  constructor(client: NetlinkClient) {
    this.#client = client;
  }

  /** Whether close() has run. */
  get closed(): boolean {
    return this.#client.closed;
  }

  /** Closes the socket. Requests in flight reject with ERR_NETLINK_CLOSED. Idempotent. */
  close(): void {
    this.#client.close();
  }

  /** `using` support: closes at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- addresses ---------------------------------------------------------

  /**
   * Adds an IPv4 or IPv6 address with its prefix ('10.0.0.1/24', 'fd00::1/64').
   * The kernel adds the prefix route too, once the link is up.
   */
  async addAddress(link: Link, cidr: string, options: AddAddressOptions = {}): Promise<void> {
    checkLink(link);
    const address = parseCidr(cidr, 'cidr');
    const signal = requestSignal(options);
    const replace = validateBoolean(options.replace, 'options.replace', false);
    const index = await this.#index(link, signal);
    await this.#send(
      addressRequest(RTM.NEWADDR, NLM_F.CREATE | (replace ? NLM_F.REPLACE : NLM_F.EXCL), address, index),
      this.#errors(RTM.NEWADDR, link, (code) => addressHint(code, address, cidr, true)),
      signal,
    );
  }

  /**
   * Removes an address; the prefix length must match the one it was added
   * with. Removing a primary IPv4 address also removes the secondary ones in
   * its subnet unless net.ipv4.conf.<link>.promote_secondaries is 1 (kernel policy).
   */
  async removeAddress(link: Link, cidr: string, options: RequestOptions = {}): Promise<void> {
    checkLink(link);
    const address = parseCidr(cidr, 'cidr');
    const signal = requestSignal(options);
    const index = await this.#index(link, signal);
    await this.#send(
      addressRequest(RTM.DELADDR, 0, address, index),
      this.#errors(RTM.DELADDR, link, (code) => addressHint(code, address, cidr, false)),
      signal,
    );
  }

  /** The addresses of one link, or of all links (`addresses(undefined, { signal })`). */
  async addresses(link?: Link, options: RequestOptions = {}): Promise<AddressInfo[]> {
    if (link !== undefined) checkLink(link);
    const signal = requestSignal(options);
    const index = link === undefined ? undefined : await this.#index(link, signal);
    const messages = await this.#dump(
      { type: RTM.GETADDR, flags: NLM_F.DUMP, fixed: ifaddrmsg(AF_UNSPEC, 0, 0, 0, 0) },
      signal,
      link,
    );
    return decodeAll(messages, RTM.NEWADDR, decodeAddress).filter((a) => index === undefined || a.index === index);
  }

  // ---- links -------------------------------------------------------------

  /** Brings the link up (IFF_UP), like `ip link set dev X up`. */
  async setUp(link: Link, options: RequestOptions = {}): Promise<void> {
    await this.#setLink(link, options, IFF_UP, IFF_UP);
  }

  /** Takes the link down. */
  async setDown(link: Link, options: RequestOptions = {}): Promise<void> {
    await this.#setLink(link, options, 0, IFF_UP);
  }

  /** Sets the MTU: 68 to 65535 (the device may allow less). */
  async setMtu(link: Link, mtu: number, options: RequestOptions = {}): Promise<void> {
    validateInteger(mtu, 'mtu', 68, 65535);
    await this.#setLink(link, options, 0, 0, [attr.u32(IFLA.MTU, mtu)]);
  }

  /** Sets the hardware address of a TAP or Ethernet link ('02:00:00:00:00:01'). TUN links have none. */
  async setMacAddress(link: Link, mac: string, options: RequestOptions = {}): Promise<void> {
    const bytes = parseMac(mac, 'mac');
    await this.#setLink(link, options, 0, 0, [attr.bytes(IFLA.ADDRESS, bytes)]);
  }

  /** Sets the transmit queue length (packets the kernel queues for the device). */
  async setTxQueueLength(link: Link, length: number, options: RequestOptions = {}): Promise<void> {
    // The kernel keeps it in an int: above INT_MAX it refuses the change with
    // an error that reads like a missing privilege (EPERM), so say it here.
    validateInteger(length, 'length', 0, 0x7fffffff);
    await this.#setLink(link, options, 0, 0, [attr.u32(IFLA.TXQLEN, length)]);
  }

  /** One link, with its counters. Rejects with ENODEV when there is no such link. */
  async link(link: Link, options: RequestOptions = {}): Promise<LinkInfo> {
    checkLink(link);
    const signal = requestSignal(options);
    const reply = await this.#send(linkRequest(RTM.GETLINK, link), this.#errors(RTM.GETLINK, link), signal);
    const found = decodeAll(reply, RTM.NEWLINK, decodeLink)[0];
    if (found === undefined)
      throw new TunError(EBADMSG, `netlink ${messageTypeName(RTM.GETLINK)}`, {
        device: this.#name(link),
        hint: 'The kernel answered without a readable link message',
      });
    this[kLinkNames].set(found.index, found.name);
    return found;
  }

  /** @internal The link's TUN/TAP details; undefined for a link of another kind, ENODEV for none. */
  async [kTunLink](link: Link): Promise<TunLinkInfo | undefined> {
    const reply = await this.#send(linkRequest(RTM.GETLINK, link), this.#errors(RTM.GETLINK, link), undefined);
    const found = reply.find((m) => m.type === RTM.NEWLINK);
    return found === undefined ? undefined : decodeTunLink(found);
  }

  /** @internal Deletes the link with this index, as `ip link del` does. */
  async [kDeleteLink](index: number, name: string): Promise<void> {
    this[kLinkNames].set(index, name);
    await this.#send(linkRequest(RTM.DELLINK, index), this.#errors(RTM.DELLINK, index), undefined);
  }

  /** Every link in this network namespace. */
  async links(options: RequestOptions = {}): Promise<LinkInfo[]> {
    const signal = requestSignal(options);
    const messages = await this.#dump({ type: RTM.GETLINK, flags: NLM_F.DUMP, fixed: ifinfomsg(AF_UNSPEC, 0) }, signal);
    return decodeAll(messages, RTM.NEWLINK, decodeLink, (m) => linkFamily(m) === AF_UNSPEC);
  }

  // ---- routes --------------------------------------------------------------

  /**
   * Adds a route through a device and/or a gateway.
   *
   * ```ts
   * await nl.addRoute('10.33.0.0/16', { device: 'tun0' });
   * await nl.addRoute('fd33::/48', { via: 'fd00::2', metric: 100 });
   * ```
   */
  async addRoute(cidr: string, options: RouteOptions = {}): Promise<void> {
    const route = await this.#routeRequest(cidr, options, true);
    await this.#send(
      route.request,
      this.#errors(RTM.NEWROUTE, options.device, (code) => routeHint(code, cidr, true)),
      route.signal,
    );
  }

  /** Removes a route; the options narrow which one (device, via, metric, table). */
  async removeRoute(cidr: string, options: RouteOptions = {}): Promise<void> {
    const route = await this.#routeRequest(cidr, options, false);
    await this.#send(
      route.request,
      this.#errors(RTM.DELROUTE, options.device, (code) => routeHint(code, cidr, false)),
      route.signal,
    );
  }

  /** Routes of the main table (or `filter.table`), without the route cache. */
  async routes(filter: RouteFilter = {}): Promise<RouteInfo[]> {
    validateObject(filter, 'filter');
    if (filter.family !== undefined && filter.family !== 4 && filter.family !== 6)
      throw invalidValue('filter.family', filter.family, 'must be 4 or 6');
    const table = filter.table === undefined ? RT_TABLE_MAIN : filter.table;
    if (table !== 'all') validateInteger(table, 'filter.table', 1, MAX_U32);
    if (filter.device !== undefined) checkLink(filter.device);
    const signal = requestSignal(filter, 'filter');
    const index = filter.device === undefined ? undefined : await this.#index(filter.device, signal);
    const family = filter.family === 4 ? AF_INET : filter.family === 6 ? AF_INET6 : AF_UNSPEC;
    const messages = await this.#dump(
      {
        type: RTM.GETROUTE,
        flags: NLM_F.DUMP,
        fixed: rtmsg({ family, dstLength: 0, table: 0, protocol: 0, scope: 0, type: 0 }),
      },
      signal,
    );
    return decodeAll(messages, RTM.NEWROUTE, decodeRoute).filter(
      (r) =>
        (r.flags & RTM_F_CLONED) === 0 &&
        (table === 'all' || r.table === table) &&
        (filter.family === undefined || r.family === filter.family) &&
        (index === undefined || r.device === index),
    );
  }

  // ---- plumbing --------------------------------------------------------------

  async #routeRequest(
    cidr: string,
    options: RouteOptions,
    adding: boolean,
  ): Promise<{ request: Request; signal: AbortSignal | undefined }> {
    const destination = parseCidr(cidr === 'default' ? '0.0.0.0/0' : cidr, 'cidr');
    validateObject(options, 'options');
    if (!networkOf(destination).equals(destination.bytes)) {
      throw invalidValue('cidr', cidr, 'has host bits set beyond the prefix length');
    }
    if (options.device !== undefined) checkLink(options.device);
    const via = options.via === undefined ? undefined : parseIp(options.via, 'options.via');
    if (via !== undefined && via.family !== destination.family) {
      throw invalidValue('options.via', options.via, `must be an IPv${destination.family} address like the destination`);
    }
    if (options.metric !== undefined) validateInteger(options.metric, 'options.metric', 0, MAX_U32);
    const table = options.table === undefined ? RT_TABLE_MAIN : options.table;
    validateInteger(table, 'options.table', 1, MAX_U32);
    const replace = validateBoolean(options.replace, 'options.replace', false);
    if (adding && options.device === undefined && via === undefined) {
      throw invalidValue('options', options, 'must name a device or a gateway (via) for the route');
    }
    const signal = requestSignal(options);
    const index = options.device === undefined ? undefined : await this.#index(options.device, signal);
    const attributes: Attribute[] = [attr.u32(RTA.TABLE, table)];
    if (destination.prefixLength > 0) attributes.push(attr.bytes(RTA.DST, destination.bytes));
    if (index !== undefined) attributes.push(attr.u32(RTA.OIF, index));
    if (via !== undefined) attributes.push(attr.bytes(RTA.GATEWAY, via.bytes));
    if (options.metric !== undefined) attributes.push(attr.u32(RTA.PRIORITY, options.metric));
    const fixed = rtmsg({
      family: destination.family === 4 ? AF_INET : AF_INET6,
      dstLength: destination.prefixLength,
      // Tables above 255 only fit in RTA_TABLE; rtm_table then says "see the attribute".
      table: table < 256 ? table : 0,
      // Deleting: protocol, type 0 and scope NOWHERE match any route to the destination.
      protocol: adding ? RTPROT_STATIC : 0,
      // A route without a gateway reaches hosts on the link itself.
      scope: adding ? (via === undefined && destination.family === 4 ? RT_SCOPE.LINK : RT_SCOPE.UNIVERSE) : RT_SCOPE.NOWHERE,
      type: adding ? RTN_UNICAST : 0,
    });
    const flags = adding ? NLM_F.CREATE | (replace ? NLM_F.REPLACE : NLM_F.EXCL) : 0;
    return { request: { type: adding ? RTM.NEWROUTE : RTM.DELROUTE, flags, fixed, attributes }, signal };
  }

  async #setLink(
    link: Link,
    options: RequestOptions,
    flags: number,
    change: number,
    attributes: Attribute[] = [],
  ): Promise<void> {
    checkLink(link);
    const signal = requestSignal(options);
    const request = linkRequest(RTM.SETLINK, link, attributes);
    request.fixed = ifinfomsg(AF_UNSPEC, typeof link === 'number' ? link : 0, flags, change);
    await this.#send(
      request,
      this.#errors(RTM.SETLINK, link, (code) => setLinkHint(code, attributes)),
      signal,
    );
  }

  /** An interface index: a number is one; a name costs one RTM_GETLINK. */
  async #index(link: Link, signal: AbortSignal | undefined): Promise<number> {
    if (typeof link === 'number') return link;
    return (await this.link(link, { signal })).index;
  }

  async #send(request: Request, error: ErrorFactory, signal: AbortSignal | undefined): Promise<NetlinkMessage[]> {
    return (await this.#client.request(request, error, signal)).messages;
  }

  async #dump(request: Request, signal: AbortSignal | undefined, link?: Link): Promise<NetlinkMessage[]> {
    const errors = this.#errors(request.type, link);
    for (let attempt = 1; attempt <= DUMP_ATTEMPTS; attempt++) {
      const reply = await this.#client.request(request, errors, signal);
      // A dump that crossed a change may have skipped or doubled entries.
      if (!reply.interrupted) return reply.messages;
    }
    // Never hand out a list the kernel called inconsistent. EINTR is what
    // iproute2 returns for the same case ("Dump was interrupted and may be inconsistent").
    throw new TunError(EINTR, `netlink ${messageTypeName(request.type)}`, {
      device: this.#name(link),
      hint: `The kernel's table changed during each of ${DUMP_ATTEMPTS} dumps (NLM_F_DUMP_INTR), so none is consistent: try again once the changes settle`,
    });
  }

  #name(link: Link | undefined): string | undefined {
    if (link === undefined) return undefined;
    return typeof link === 'string' ? link : (this[kLinkNames].get(link) ?? `#${link}`);
  }

  #errors(type: number, link: Link | undefined, specific?: (code: string) => string | undefined): ErrorFactory {
    const device = this.#name(link);
    return (errno, kernelMessage) => {
      const code = errnoName(errno);
      let hint = specific?.(code) ?? genericHint(code, device);
      if (kernelMessage !== undefined)
        hint = hint === undefined ? `The kernel says: ${kernelMessage}` : `${hint} (the kernel says: ${kernelMessage})`;
      return new TunError(errno, `netlink ${messageTypeName(type)}`, { device, hint });
    };
  }
}

/**
 * Opens a request socket at once, on the JS thread (a setns() pair there
 * with a namespace): for TunDevice's helpers, which open theirs on first use
 * from a synchronous path. Everything else uses Netlink.open().
 */
export function openNetlink(netns: NetnsTarget = ''): Netlink {
  try {
    return new Netlink(NetlinkClient.openSync(0, {}, false, netns));
  } catch (error) {
    throw fromNative(error, netnsContext(netns));
  }
}

/**
 * The index of the link named `name` in that namespace; rejects with ENODEV
 * (syscall 'netlink RTM_GETLINK') when there is none. Reading needs no privilege.
 */
export async function linkIndex(name: string, netns: NetnsTarget): Promise<number> {
  return withNetlink(netns, async (nl) => (await nl.link(name)).index);
}

/** Runs `use` on a request socket of its own in that namespace (opened on the thread pool), then closes it. */
export async function withNetlink<T>(netns: NetnsTarget, use: (nl: Netlink) => Promise<T>): Promise<T> {
  let nl: Netlink;
  try {
    nl = new Netlink(await NetlinkClient.open(0, {}, false, netns));
  } catch (error) {
    throw fromNative(error, netnsContext(netns));
  }
  try {
    return await use(nl);
  } finally {
    nl.close();
  }
}
