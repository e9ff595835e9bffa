// The link, address and route messages rtnetlink sends, decoded into the
// library's plain objects; a corrupt one is a MalformedMessage, never a throw.
import { formatIp, formatMac } from '../packet/address';
import {
  AF_INET,
  AF_INET6,
  attrString,
  attrU32,
  IFA,
  IFADDRMSG_SIZE,
  IFF_UP,
  IFINFOMSG_SIZE,
  IFLA,
  MalformedMessage,
  type NetlinkMessage,
  parseAttributes,
  readI32,
  readU32,
  readU64,
  RT_SCOPE,
  RTA,
  RTMSG_SIZE,
} from './codec';

const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
const IFLA_TUN = { TYPE: 3, PI: 4, VNET_HDR: 5, PERSIST: 6, MULTI_QUEUE: 7, NUM_QUEUES: 8, NUM_DISABLED_QUEUES: 9 } as const;

const LINK_FLAGS: ReadonlyArray<[number, string]> = [
  [0x1, 'UP'],
  [0x2, 'BROADCAST'],
  [0x4, 'DEBUG'],
  [0x8, 'LOOPBACK'],
  [0x10, 'POINTOPOINT'],
  [0x20, 'NOTRAILERS'],
  [0x40, 'RUNNING'],
  [0x80, 'NOARP'],
  [0x100, 'PROMISC'],
  [0x200, 'ALLMULTI'],
  [0x400, 'MASTER'],
  [0x800, 'SLAVE'],
  [0x1000, 'MULTICAST'],
  [0x2000, 'PORTSEL'],
  [0x4000, 'AUTOMEDIA'],
  [0x8000, 'DYNAMIC'],
  [0x10000, 'LOWER_UP'],
  [0x20000, 'DORMANT'],
  [0x40000, 'ECHO'],
];
const OPER_STATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;

/**
 * RFC 2863 operational state, as `ip link` prints it (lower case).
 *
 * ```ts
 * if ((await dev.link()).operState === 'down') console.log('no carrier: nobody has the device open');
 * ```
 */
export type OperState = (typeof OPER_STATES)[number];

/**
 * A link's traffic counters (rtnl_link_stats64). For a TUN device, tx counts packets the kernel queued for the reader and txDropped those the full ring dropped.
 *
 * ```ts
 * const { stats } = await dev.link();
 * console.log(`${stats.txDropped} packets dropped: the reader was too slow`);
 * ```
 */
export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
  txErrors: number;
}

/**
 * A network interface as the kernel describes it.
 *
 * ```ts
 * const link = await dev.link();
 * console.log(link.up, link.carrier, link.mtu, link.flags.join(','));
 * ```
 */
export interface LinkInfo {
  index: number;
  name: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Operationally running (IFF_RUNNING): up and with carrier. */
  running: boolean;
  /** Carrier (IFF_LOWER_UP): for TUN/TAP, a process has the device open. */
  carrier: boolean;
  operState: OperState;
  /** The kernel's IFF_* flags by name: 'UP', 'POINTOPOINT', 'NOARP', 'LOWER_UP', ... */
  flags: string[];
  mtu: number;
  /** Hardware address, for links that have one (TAP, Ethernet); TUN has none. */
  mac?: string;
  txQueueLength: number;
  stats: LinkStats;
}

function decodeStats(a: Buffer | undefined, wide: boolean): LinkStats | undefined {
  const size = wide ? 8 : 4;
  if (a === undefined || a.length < 8 * size) return undefined;
  const at = (i: number): number => (wide ? readU64(a, i * 8) : readU32(a, i * 4));
  // rtnl_link_stats{,64}: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped
  return {
    rxPackets: at(0),
    txPackets: at(1),
    rxBytes: at(2),
    txBytes: at(3),
    rxErrors: at(4),
    txErrors: at(5),
    rxDropped: at(6),
    txDropped: at(7),
  };
}

export function linkFlagNames(flags: number): string[] {
  return LINK_FLAGS.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/** ifi_family of an RTM_NEWLINK/DELLINK message (0: the link itself; 10: IPv6 per-link data). */
export function linkFamily(message: NetlinkMessage): number {
  return message.payload.length > 0 ? message.payload[0] : -1;
}

export function decodeLink(message: NetlinkMessage): LinkInfo | MalformedMessage {
  const p = message.payload;
  if (p.length < IFINFOMSG_SIZE) return new MalformedMessage(`ifinfomsg of ${p.length} bytes: too short`);
  const attributes = parseAttributes(p, IFINFOMSG_SIZE);
  if (attributes instanceof MalformedMessage) return attributes;
  const index = readI32(p, 4);
  const flags = readU32(p, 8);
  const name = attrString(attributes.get(IFLA.IFNAME));
  if (name === undefined) return new MalformedMessage(`link ${index} has no IFLA_IFNAME`);
  const operState = OPER_STATES[attributes.get(IFLA.OPERSTATE)?.[0] ?? 0] ?? 'unknown';
  const address = attributes.get(IFLA.ADDRESS);
  const stats = decodeStats(attributes.get(IFLA.STATS64), true) ??
    decodeStats(attributes.get(IFLA.STATS), false) ?? {
      rxPackets: 0,
      rxBytes: 0,
      rxDropped: 0,
      rxErrors: 0,
      txPackets: 0,
      txBytes: 0,
      txDropped: 0,
      txErrors: 0,
    };
  const info: LinkInfo = {
    index,
    name,
    up: (flags & IFF_UP) !== 0,
    running: (flags & 0x40) !== 0,
    carrier: (flags & 0x10000) !== 0,
    operState,
    flags: linkFlagNames(flags),
    mtu: attrU32(attributes.get(IFLA.MTU)) ?? 0,
    txQueueLength: attrU32(attributes.get(IFLA.TXQLEN)) ?? 0,
    stats,
  };
  if (address !== undefined && address.length > 0) info.mac = formatMac(address);
  return info;
}

/** What the kernel says of a TUN/TAP link itself (IFLA_LINKINFO of kind 'tun'), as `ip -d link` shows it. */
export interface TunLinkInfo {
  index: number;
  name: string;
  mode: 'tun' | 'tap';
  packetInfo: boolean;
  vnetHeader: boolean;
  persist: boolean;
  multiQueue: boolean;
  /** Queues attached, and queues detached (TUNSETQUEUE) but still open. */
  queues: number;
  disabledQueues: number;
}

/** The TUN/TAP details of a link message; undefined for a link of another kind. */
export function decodeTunLink(message: NetlinkMessage): TunLinkInfo | undefined {
  const p = message.payload;
  if (p.length < IFINFOMSG_SIZE) return undefined;
  const attributes = parseAttributes(p, IFINFOMSG_SIZE);
  if (attributes instanceof MalformedMessage) return undefined;
  const name = attrString(attributes.get(IFLA.IFNAME));
  const linkInfo = attributes.get(IFLA.LINKINFO);
  const info = linkInfo === undefined ? undefined : parseAttributes(linkInfo, 0);
  if (name === undefined || info === undefined || info instanceof MalformedMessage) return undefined;
  const data = info.get(IFLA_INFO.DATA);
  const tun = data === undefined ? undefined : parseAttributes(data, 0);
  if (attrString(info.get(IFLA_INFO.KIND)) !== 'tun' || tun === undefined || tun instanceof MalformedMessage) return undefined;
  const flag = (type: number): boolean => (tun.get(type)?.[0] ?? 0) !== 0;
  return {
    index: readI32(p, 4),
    name,
    // IFLA_TUN_TYPE holds IFF_TUN (1) or IFF_TAP (2).
    mode: tun.get(IFLA_TUN.TYPE)?.[0] === 2 ? 'tap' : 'tun',
    packetInfo: flag(IFLA_TUN.PI),
    vnetHeader: flag(IFLA_TUN.VNET_HDR),
    persist: flag(IFLA_TUN.PERSIST),
    multiQueue: flag(IFLA_TUN.MULTI_QUEUE),
    queues: attrU32(tun.get(IFLA_TUN.NUM_QUEUES)) ?? 0,
    disabledQueues: attrU32(tun.get(IFLA_TUN.NUM_DISABLED_QUEUES)) ?? 0,
  };
}

// ---- addresses -----------------------------------------------------------

const ADDRESS_FLAGS: ReadonlyArray<[number, string]> = [
  [0x1, 'secondary'],
  [0x2, 'nodad'],
  [0x4, 'optimistic'],
  [0x8, 'dadfailed'],
  [0x10, 'home'],
  [0x20, 'deprecated'],
  [0x40, 'tentative'],
  [0x80, 'permanent'],
  [0x100, 'mngtmpaddr'],
  [0x200, 'noprefixroute'],
  [0x400, 'autojoin'],
  [0x800, 'stable-privacy'],
];

/**
 * An address or route scope, by the name `ip` uses ('global', 'link', ...) or its number.
 *
 * ```ts
 * const global = (await dev.addresses()).filter((a) => a.scope === 'global');
 * ```
 */
export type Scope = 'global' | 'site' | 'link' | 'host' | 'nowhere' | number;

export function scopeName(scope: number): Scope {
  switch (scope) {
    case RT_SCOPE.UNIVERSE:
      return 'global';
    case RT_SCOPE.SITE:
      return 'site';
    case RT_SCOPE.LINK:
      return 'link';
    case RT_SCOPE.HOST:
      return 'host';
    case RT_SCOPE.NOWHERE:
      return 'nowhere';
    default:
      return scope;
  }
}

/**
 * An IP address assigned to an interface.
 *
 * ```ts
 * for (const a of await dev.addresses()) console.log(`${a.address}/${a.prefixLength}`);
 * ```
 */
export interface AddressInfo {
  /** The interface's own address ('10.0.0.1', 'fd00::1'). */
  address: string;
  prefixLength: number;
  family: 4 | 6;
  /** The interface index. */
  index: number;
  scope?: Scope;
  /** IFA_F_* flags by the names `ip addr` uses: 'permanent', 'tentative', 'nodad', ... */
  flags?: string[];
  /** The other end of a point-to-point link, when set apart from `address`. */
  peer?: string;
  /** The IPv4 label (eth0:1); absent for IPv6. */
  label?: string;
}

/**
 * The part every address and route message starts with: a fixed header of
 * `headerSize` bytes whose first byte is the address family, then attributes.
 * Anything but IPv4 and IPv6 is malformed for us.
 */
function decodeIpMessage(
  message: NetlinkMessage,
  headerSize: number,
  what: string,
): { p: Buffer; attributes: Map<number, Buffer>; family: 4 | 6; size: 4 | 16 } | MalformedMessage {
  const p = message.payload;
  if (p.length < headerSize) return new MalformedMessage(`${what} of ${p.length} bytes: too short`);
  const attributes = parseAttributes(p, headerSize);
  if (attributes instanceof MalformedMessage) return attributes;
  if (p[0] !== AF_INET && p[0] !== AF_INET6) return new MalformedMessage(`${what} family ${p[0]} is not IP`);
  return p[0] === AF_INET ? { p, attributes, family: 4, size: 4 } : { p, attributes, family: 6, size: 16 };
}

export function decodeAddress(message: NetlinkMessage): AddressInfo | MalformedMessage {
  const head = decodeIpMessage(message, IFADDRMSG_SIZE, 'ifaddrmsg');
  if (head instanceof MalformedMessage) return head;
  const { p, attributes, family, size } = head;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on a
  // point-to-point link (or the same address). IPv6 only sends IFA_ADDRESS
  // unless a peer is set.
  const local = attributes.get(IFA.LOCAL);
  const other = attributes.get(IFA.ADDRESS);
  const own = local ?? other;
  if (own === undefined || own.length < size) return new MalformedMessage('address message without an address');
  const flagBits = attrU32(attributes.get(IFA.FLAGS)) ?? p[2];
  const info: AddressInfo = {
    address: formatIp(own.subarray(0, size)),
    prefixLength: p[1],
    family,
    index: readU32(p, 4),
    scope: scopeName(p[3]),
    flags: ADDRESS_FLAGS.filter(([bit]) => (flagBits & bit) !== 0).map(([, name]) => name),
  };
  if (
    local !== undefined &&
    other !== undefined &&
    other.length >= size &&
    !other.subarray(0, size).equals(local.subarray(0, size))
  ) {
    info.peer = formatIp(other.subarray(0, size));
  }
  const label = attrString(attributes.get(IFA.LABEL));
  if (label !== undefined) info.label = label;
  return info;
}

// ---- routes ----------------------------------------------------------------

const ROUTE_TYPES = [
  'unspec',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
];
const PROTOCOLS: Record<number, string> = {
  0: 'unspec',
  1: 'redirect',
  2: 'kernel',
  3: 'boot',
  4: 'static',
  9: 'ra',
  16: 'dhcp',
};

/**
 * A route in a routing table.
 *
 * ```ts
 * for (const r of await nl.routes({ family: 4 })) console.log(r.destination, r.device, r.via ?? '');
 * ```
 */
export interface RouteInfo {
  /** The destination as CIDR ('10.33.0.0/16', '0.0.0.0/0' for the IPv4 default). */
  destination: string;
  prefixLength: number;
  family: 4 | 6;
  /** Output interface index. */
  device?: number;
  /** Next hop. */
  via?: string;
  metric?: number;
  table: number;
  /** Who installed it: 'kernel', 'boot' (ip's default), 'static' (this library), 'ra', ... */
  protocol: string;
  scope: Scope;
  /** 'unicast', 'local', 'broadcast', 'multicast', 'blackhole', ... */
  type: string;
  /** Preferred source address. */
  source?: string;
  /** RTM_F_* flags (RTM_F_CLONED for cache entries). */
  flags: number;
}

export function decodeRoute(message: NetlinkMessage): RouteInfo | MalformedMessage {
  const head = decodeIpMessage(message, RTMSG_SIZE, 'rtmsg');
  if (head instanceof MalformedMessage) return head;
  const { p, attributes, family, size } = head;
  const prefixLength = p[1];
  const dst = attributes.get(RTA.DST);
  const destination = dst !== undefined && dst.length >= size ? formatIp(dst.subarray(0, size)) : family === 4 ? '0.0.0.0' : '::';
  const ip = (type: number): string | undefined => {
    const a = attributes.get(type);
    return a !== undefined && a.length >= size ? formatIp(a.subarray(0, size)) : undefined;
  };
  const route: RouteInfo = {
    destination: `${destination}/${prefixLength}`,
    prefixLength,
    family,
    table: attrU32(attributes.get(RTA.TABLE)) ?? p[4],
    protocol: PROTOCOLS[p[5]] ?? String(p[5]),
    scope: scopeName(p[6]),
    type: ROUTE_TYPES[p[7]] ?? String(p[7]),
    flags: readU32(p, 8),
  };
  const device = attrU32(attributes.get(RTA.OIF));
  if (device !== undefined) route.device = device;
  const via = ip(RTA.GATEWAY);
  if (via !== undefined) route.via = via;
  const metric = attrU32(attributes.get(RTA.PRIORITY));
  if (metric !== undefined) route.metric = metric;
  const source = ip(RTA.PREFSRC);
  if (source !== undefined) route.source = source;
  return route;
}
