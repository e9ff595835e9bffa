// What a Netlink request takes (the public option types, checked), how it is
// built, and the hint its error carries.
import { abortError } from '../internal/abort';
import { invalidType, invalidValue } from '../internal/errors';
import { validateAbortSignal, validateInteger, validateName, validateObject } from '../internal/validators';
import type { Cidr } from '../packet/address';
import type { Request } from './client';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA,
  IFLA,
  MalformedMessage,
  RT_SCOPE,
  attr,
  ifaddrmsg,
  ifinfomsg,
  type Attribute,
  type NetlinkMessage,
} from './codec';
/**
 * An interface by name ('tun0') or index (7).
 *
 * ```ts
 * await nl.setUp('tun0');
 * await nl.setUp(dev.index); // the same link, immune to renames
 * ```
 */
export type Link = string | number;

/**
 * The options every {@link Netlink} request takes (as its last argument, or
 * in the options object it has already).
 *
 * ```ts
 * await nl.setMtu('tun0', 1400, { signal: AbortSignal.timeout(1000) });
 * ```
 */
export interface RequestOptions {
  /**
   * Rejects the call with an AbortError at once when aborted; the kernel's
   * answer, when it comes, is dropped. The kernel acts on a request as it is
   * sent: a change sent before the abort may still be made (read the state
   * back to know).
   */
  signal?: AbortSignal;
}

/**
 * Options of {@link Netlink.addAddress} and {@link TunDevice.addAddress}.
 *
 * ```ts
 * await dev.addAddress('10.0.0.1/24', { replace: true }); // no EEXIST when it is already there
 * ```
 */
export interface AddAddressOptions extends RequestOptions {
  /** Update the address if it is already there instead of failing with EEXIST. */
  replace?: boolean;
}

/**
 * Options of {@link Netlink.addRoute} and {@link Netlink.removeRoute}.
 *
 * ```ts
 * await nl.addRoute('10.33.0.0/16', { device: 'tun0', metric: 50 });
 * ```
 */
export interface RouteOptions extends RequestOptions {
  /** The output interface. */
  device?: Link;
  /** The next hop (same family as the destination). */
  via?: string;
  /** The route's priority (lower wins). */
  metric?: number;
  /** Routing table; default 254 (main). */
  table?: number;
  /** addRoute only: replace a route to the same destination instead of failing with EEXIST. */
  replace?: boolean;
}

/**
 * Which routes {@link Netlink.routes} lists.
 *
 * ```ts
 * const viaTun = await nl.routes({ device: 'tun0', family: 4 });
 * ```
 */
export interface RouteFilter extends RequestOptions {
  device?: Link;
  family?: 4 | 6;
  /** Default 254 (main), as `ip route` shows; 'all' for every table. */
  table?: number | 'all';
}

export function decodeAll<T>(
  messages: NetlinkMessage[],
  type: number,
  decode: (m: NetlinkMessage) => T | MalformedMessage,
  keep?: (m: NetlinkMessage) => boolean,
): T[] {
  const out: T[] = [];
  for (const m of messages) {
    if (m.type !== type || (keep !== undefined && !keep(m))) continue;
    // A message we cannot read is left out rather than failing the whole answer.
    const value = decode(m);
    if (!(value instanceof MalformedMessage)) out.push(value);
  }
  return out;
}

export function linkRequest(type: number, link: Link, attributes: Attribute[] = []): Request {
  // By index when we have one; the kernel also finds a link by IFLA_IFNAME.
  if (typeof link === 'number') return { type, flags: 0, fixed: ifinfomsg(AF_UNSPEC, link), attributes };
  return { type, flags: 0, fixed: ifinfomsg(AF_UNSPEC, 0), attributes: [attr.string(IFLA.IFNAME, link), ...attributes] };
}

export function addressRequest(type: number, flags: number, address: Cidr, index: number): Request {
  const v4 = address.family === 4;
  // IFA_LOCAL is the address itself; IFA_ADDRESS the same one, as there is no peer.
  const scope = v4 && address.bytes[0] === 127 ? RT_SCOPE.HOST : RT_SCOPE.UNIVERSE;
  return {
    type,
    flags,
    fixed: ifaddrmsg(v4 ? AF_INET : AF_INET6, address.prefixLength, 0, scope, index),
    attributes: [attr.bytes(IFA.LOCAL, address.bytes), attr.bytes(IFA.ADDRESS, address.bytes)],
  };
}

/** The AbortSignal of a request's options (validated), or undefined; throws an AbortError if aborted already. */
export function requestSignal(options: RequestOptions, name = 'options'): AbortSignal | undefined {
  validateObject(options, name);
  const signal = options.signal;
  if (signal === undefined) return undefined;
  validateAbortSignal(signal, `${name}.signal`);
  if (signal.aborted) throw abortError(signal);
  return signal;
}

export function checkLink(link: unknown): asserts link is Link {
  if (typeof link === 'number') {
    validateInteger(link, 'link', 1, 0x7fffffff);
  } else if (typeof link === 'string') {
    validateName(link, 'link');
    if (link === '') throw invalidValue('link', link, 'must not be empty');
  } else {
    throw invalidType('link', 'an interface name or index', link);
  }
}

const NEEDS_ADMIN =
  'Changing links, addresses and routes needs CAP_NET_ADMIN in this network namespace: run as root or grant the capability';

export function genericHint(code: string, device: string | undefined): string | undefined {
  switch (code) {
    case 'EPERM':
      return NEEDS_ADMIN;
    case 'ENODEV':
      return `Interface ${device === undefined ? '' : `'${device}' `}does not exist (any more)`;
    default:
      return undefined;
  }
}

export function addressHint(code: string, address: Cidr, cidr: string, adding: boolean): string | undefined {
  switch (code) {
    case 'EEXIST':
      return `Address ${cidr} is already present; pass { replace: true } to update it`;
    case 'EADDRNOTAVAIL':
      return adding ? undefined : `Address ${cidr} is not on this interface (the prefix length must match too)`;
    case 'EACCES':
    case 'EPERM':
    case 'EAFNOSUPPORT':
      if (address.family === 6 && (adding || code !== 'EPERM')) {
        return (
          'IPv6 is disabled on this interface or in this kernel: set net.ipv6.conf.<interface>.disable_ipv6=0 ' +
          '(and net.ipv6.conf.all.disable_ipv6=0), or boot without ipv6.disable=1'
        );
      }
      return code === 'EPERM' ? NEEDS_ADMIN : undefined;
    default:
      return undefined;
  }
}

export function routeHint(code: string, cidr: string, adding: boolean): string | undefined {
  switch (code) {
    case 'EEXIST':
      return `A route to ${cidr} is already present; pass { replace: true } to replace it`;
    case 'ESRCH':
      return `No route to ${cidr} matches (device, via, metric and table must all match)`;
    case 'ENETUNREACH':
      return adding
        ? 'The gateway is not on a directly connected network: add an address in its subnet, and bring the link up, first'
        : undefined;
    case 'ENETDOWN':
      return 'The device is down: bring it up first';
    default:
      return undefined;
  }
}

export function setLinkHint(code: string, attributes: Attribute[]): string | undefined {
  const setting = attributes[0]?.type;
  if (code === 'EINVAL' && setting === IFLA.MTU) return 'The MTU is out of range for this device';
  if (setting === IFLA.ADDRESS && (code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'EINVAL')) {
    return 'This link has no settable hardware address (TUN devices have none; use a TAP device)';
  }
  if (setting === IFLA.ADDRESS && code === 'EADDRNOTAVAIL') return 'The kernel refused this hardware address';
  return undefined;
}
