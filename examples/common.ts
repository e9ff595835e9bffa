// What the examples share: a one-line description of an IP packet, a guard
// that keeps an example's subnet off the real network, and the Ctrl-C handler
// every example installs (close the device, exit 0).
import net from 'node:net';
import { Netlink, PacketViews, TunDevice, formatIp, parseCidr, type OffloadOptions, type TunMode } from '../lib';

export { formatIp };

const IP_PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };
const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'destination unreachable',
  8: 'echo request',
  11: 'time exceeded',
};
const ICMPV6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  143: 'MLDv2 report',
};

// One set of views for every packet an example looks at: reset per packet, nothing allocated.
const views = new PacketViews('tun');

/** "ICMP echo request 10.0.0.1 -> 10.0.0.2 seq 1", "UDP 10.0.0.1:5000 -> 10.0.0.2:53", "IPv6 ...". */
export function describePacket(p: Buffer): string {
  const { ip, icmp, tcp, udp } = views;
  if (!views.reset(p) && !ip.valid) return `not an IP packet (first byte 0x${(p[0] ?? 0).toString(16)}: ${views.reason})`;
  const v6 = ip.version === 6;
  const name = IP_PROTOCOLS[ip.protocol] ?? `IPv${ip.version} protocol ${ip.protocol}`;
  const source = ip.sourceString();
  const destination = ip.destinationString();
  if (views.transport === 'icmp' && icmp.valid) {
    const typeName = (v6 ? ICMPV6_TYPES : ICMP_TYPES)[icmp.type] ?? `type ${icmp.type}`;
    const echo = icmp.isEchoRequest || icmp.isEchoReply;
    return `${name} ${typeName} ${source} -> ${destination}${echo ? ` seq ${icmp.sequence}` : ''}`;
  }
  const ports = views.transport === 'tcp' ? tcp : views.transport === 'udp' ? udp : null;
  if (ports?.valid === true) {
    const at = (a: string, port: number): string => (v6 ? `[${a}]:${port}` : `${a}:${port}`);
    return `${name} ${at(source, ports.sourcePort)} -> ${at(destination, ports.destinationPort)}`;
  }
  return `${name} ${source} -> ${destination}`;
}

/** The IP header fields `read-packets --decode` prints, one "key value" per field. */
export function decodeIpHeader(p: Buffer): string {
  const { ip, icmp } = views;
  views.reset(p);
  if (!ip.valid) return `version ${p.length > 0 ? p[0] >> 4 : 0} (not IP: ${ip.reason})`;
  const v6 = ip.version === 6;
  const fields = [
    `version ${ip.version}`,
    v6 ? `payload length ${ip.length - 40}` : `header ${ip.headerLength} bytes`,
    v6 ? `hop limit ${ip.ttl}` : `total length ${ip.length}`,
    ...(v6 ? [] : [`ttl ${ip.ttl}`]),
    `${v6 ? 'next header' : 'protocol'} ${ip.protocol} (${IP_PROTOCOLS[ip.protocol] ?? '?'})`,
    `source ${ip.sourceString()}`,
    `destination ${ip.destinationString()}`,
  ];
  if (v6 && ip.payloadOffset !== 40) fields.push(`extension headers ${ip.payloadOffset - ip.offset - 40} bytes`);
  if (views.transport === 'icmp') {
    const types = v6 ? ICMPV6_TYPES : ICMP_TYPES;
    fields.push(`${v6 ? 'icmpv6' : 'icmp'} type ${icmp.type} (${types[icmp.type] ?? '?'}) code ${icmp.code}`);
  }
  return fields.join(', ');
}

/**
 * Refuses a subnet that another interface already has: traffic an example
 * sends to it could otherwise leave through that interface, onto a real network.
 */
export async function assertSubnetIsFree(cidr: string, ownIndex?: number): Promise<void> {
  const ours = parseCidr(cidr, 'address');
  const family = ours.family === 4 ? 'ipv4' : 'ipv6';
  const [address] = cidr.split('/');
  const nl = await Netlink.open();
  try {
    for (const other of await nl.addresses()) {
      if (other.family !== ours.family || other.index === ownIndex || other.scope === 'host' || other.scope === 'link') continue;
      const list = new net.BlockList();
      const shorter = Math.min(other.prefixLength, ours.prefixLength);
      list.addSubnet(other.address, shorter, family);
      if (list.check(address, family)) {
        throw new Error(
          `${cidr} overlaps ${other.address}/${other.prefixLength} on interface ${other.index}: ` +
            'choose another subnet (or run the example in its own namespace: node scripts/in-netns.js ...)',
        );
      }
    }
  } finally {
    nl.close();
  }
}

/**
 * `preferred` if no interface has that name yet, else a template ('tun%d')
 * the kernel fills with a free number.
 */
export async function freeName(preferred: string, template: string): Promise<string> {
  const nl = await Netlink.open();
  try {
    const names = new Set((await nl.links()).map((l) => l.name));
    return names.has(preferred) ? template : preferred;
  } finally {
    nl.close();
  }
}

/**
 * On SIGINT or SIGTERM: run `cleanup` (stop traffic, close the device) once,
 * then exit 0. A second Ctrl-C while cleaning up kills the process as usual.
 */
export function exitOnSignal(cleanup: () => unknown): void {
  const stop = (): void => {
    Promise.resolve()
      .then(cleanup)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** How {@link openConfigured} sets a device up. */
export interface DeviceSetup {
  name: string;
  mode?: TunMode;
  /** Addresses with prefix ('10.0.0.1/24', 'fd00::1/64'); each must be a subnet no other interface has. */
  addresses: string[];
  mtu?: number;
  /** Offloads (a virtio_net_hdr on every packet); default none. */
  offload?: OffloadOptions;
}

/** Opens a device, gives it its addresses (and MTU) and brings it up, all through the library. */
export async function openConfigured(setup: DeviceSetup): Promise<TunDevice> {
  for (const cidr of setup.addresses) await assertSubnetIsFree(cidr);
  const dev = await TunDevice.open({ name: setup.name, mode: setup.mode, offload: setup.offload });
  try {
    for (const cidr of setup.addresses) await dev.addAddress(cidr);
    if (setup.mtu !== undefined) await dev.setMtu(setup.mtu);
    await dev.up();
  } catch (error) {
    await dev.close();
    throw error;
  }
  return dev;
}

/** Closes the device and says so (tests look for this line). */
export async function closeDevice(dev: TunDevice): Promise<void> {
  const name = dev.name;
  await dev.close();
  console.log(`Closed ${name}`);
}

/** Prints an error (a TunError's message carries its hint) and exits 1. */
export function fail(error: unknown): never {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
}

/** `address:port` ('192.0.2.1:5555', '[fd00::1]:5555'), or null when `text` is not one. */
export function parseEndpoint(text: string | undefined): { host: string; port: number } | null {
  const match = text === undefined ? null : /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  if (match === null || net.isIP(match[1]) === 0 || Number(match[2]) > 65535) return null;
  return { host: match[1], port: Number(match[2]) };
}

/** An `address:port` option, or a clear error naming it. */
export function endpoint(option: string, value: string | undefined): { host: string; port: number } {
  const parsed = parseEndpoint(value);
  if (parsed === null) throw new Error(`--${option} must be address:port, such as 192.0.2.1:5555 or [fd00::1]:5555`);
  return parsed;
}
