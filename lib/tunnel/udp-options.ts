// What a UDP tunnel is opened with: the public option types, checked before
// any syscall, and the peers encoded once as the sockaddrs the native side sends to.
import { invalidType, invalidValue } from '../internal/errors';
import { validateArray, validateBoolean, validateInteger, validateObject } from '../internal/validators';
import { parseIp } from '../packet/address';

/** A UDP endpoint. */
export interface UdpPeer {
  address: string;
  port: number;
}

/**
 * One batch on its way through the tunnel, for the hooks. Packet i is
 * `buffer[descriptors[2i], descriptors[2i] + descriptors[2i + 1])`; a hook
 * may rewrite it in place, shorten it, or drop it (length 0). Its header is
 * `headers[i * header, (i + 1) * header)`: outgoing, the hook fills it;
 * incoming, it is what the peer sent.
 */
export interface UdpBatch {
  buffer: Buffer;
  descriptors: Uint32Array;
  count: number;
  /** null when the tunnel has no header. */
  headers: Buffer | null;
  /** Outgoing: the index in `peers` each packet goes to (0 for all to start with); incoming: where each came from. */
  peer: Uint16Array;
  /**
   * Marks packet i as handled by the hook (a handshake, a keepalive): it goes
   * no further and counts as `consumed`, not as dropped.
   */
  consume(index: number): void;
}

/** The hook called once per batch, before it is sent (outgoing) or written to the device (incoming). */
export type UdpBatchHook = (batch: UdpBatch) => void;

/** Options of {@link udpTunnel}. */
export interface UdpTunnelOptions {
  /** The local end. Default: address 0.0.0.0 (:: when the first peer is IPv6), port 0 (the kernel picks). */
  bind?: { address?: string; port?: number };
  /**
   * A bound UDP socket of yours (SOCK_DGRAM, the peers' family) to use
   * instead of opening one: the tunnel works on a duplicate, so your fd stays
   * open after close() unless `closeFd`. Not with `bind` or the buffer sizes.
   */
  fd?: number;
  /** With `fd`: close it too when the tunnel closes. Default false. */
  closeFd?: boolean;
  /**
   * For a device opened with `offload`: send plain IP packets, each
   * super-packet cut into segments and sent as one UDP_SEGMENT sendmsg;
   * receive with UDP_GRO and coalesce for the device. The hooks see the
   * segments. Default true on such a device; false sends packets as read,
   * virtio_net_hdr included (the peer's device must then match).
   */
  offload?: boolean;
  /** The one peer; or `peers`. */
  peer?: UdpPeer;
  /** Several peers: a hook picks each packet's (batch.peer[i]). Datagrams from anyone else are dropped. */
  peers?: UdpPeer[];
  /** Bytes of tunnel header in front of every packet (a nonce, an id). Default 0, at most 1024. */
  header?: number;
  /** Called per batch read from the device, before it is sent: encrypt, choose peers, drop. */
  onOutgoing?: UdpBatchHook;
  /** Called per batch received, before it is written to the device: decrypt, check, drop. */
  onIncoming?: UdpBatchHook;
  /** Datagrams per recvmmsg, at most. Default 64. */
  maxBatch?: number;
  /** SO_RCVBUF / SO_SNDBUF; default: the system's. */
  receiveBufferSize?: number;
  sendBufferSize?: number;
  /** Close the device when the tunnel closes. Default false. */
  closeDevice?: boolean;
}

/** Options checked and defaulted. */
export interface ValidUdpTunnelOptions {
  family: 4 | 6;
  bindAddress: string;
  bindPort: number;
  peers: Buffer;
  peerCount: number;
  header: number;
  onOutgoing: UdpBatchHook | undefined;
  onIncoming: UdpBatchHook | undefined;
  maxBatch: number;
  receiveBufferSize: number;
  sendBufferSize: number;
  closeDevice: boolean;
  fd: number | undefined;
  closeFd: boolean;
  offload: boolean | undefined;
}

/** A sockaddr_in or sockaddr_in6 takes this many bytes in the peer table. */
export const SOCKADDR_SIZE = 28;
const AF_INET = 2;
const AF_INET6 = 10;

/** Writes `peer` as the kernel's sockaddr (family in host order, port and address in network order). */
function encodePeer(table: Buffer, index: number, family: 4 | 6, bytes: Buffer, port: number): void {
  const at = index * SOCKADDR_SIZE;
  new Uint16Array(table.buffer, table.byteOffset + at, 1)[0] = family === 4 ? AF_INET : AF_INET6;
  table.writeUInt16BE(port, at + 2);
  bytes.copy(table, at + (family === 4 ? 4 : 8));
}

function hook(value: unknown, name: string): UdpBatchHook | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidType(name, 'a function', value);
  return value as UdpBatchHook | undefined;
}

function optionalInteger(value: unknown, name: string, fallback: number, min: number, max: number): number {
  return value === undefined ? fallback : validateInteger(value, name, min, max);
}

export function validateUdpTunnelOptions(value: unknown): ValidUdpTunnelOptions {
  const options = validateObject(value, 'options');
  if ((options.peer === undefined) === (options.peers === undefined)) {
    throw invalidValue('options', value, 'must have either `peer` or `peers`');
  }
  const list = options.peer !== undefined ? [options.peer] : validateArray(options.peers, 'options.peers');
  const name = options.peer !== undefined ? 'options.peer' : 'options.peers';
  if (list.length === 0 || list.length > 65535) throw invalidValue(name, list, 'must hold 1 to 65535 peers');
  const peers = Buffer.alloc(list.length * SOCKADDR_SIZE);
  let family: 4 | 6 | undefined;
  list.forEach((p, i) => {
    const where = options.peer !== undefined ? name : `${name}[${i}]`;
    const peer = validateObject(p, where);
    const ip = parseIp(peer.address, `${where}.address`);
    const port = validateInteger(peer.port, `${where}.port`, 1, 65535);
    family ??= ip.family;
    if (ip.family !== family)
      throw invalidValue(`${where}.address`, peer.address, 'must be of the same family as the first peer');
    encodePeer(peers, i, ip.family, ip.bytes, port);
  });
  const fd = options.fd === undefined ? undefined : validateInteger(options.fd, 'options.fd', 0, 0x7fffffff);
  if (fd !== undefined) {
    for (const key of ['bind', 'receiveBufferSize', 'sendBufferSize'] as const) {
      if (options[key] !== undefined) throw invalidValue(`options.${key}`, options[key], 'cannot be set with `options.fd`');
    }
  }
  const bind = options.bind === undefined ? {} : validateObject(options.bind, 'options.bind');
  const bindAddress = bind.address === undefined ? (family === 6 ? '::' : '0.0.0.0') : bind.address;
  if (parseIp(bindAddress, 'options.bind.address').family !== family) {
    throw invalidValue('options.bind.address', bindAddress, 'must be of the same family as the peers');
  }
  return {
    family: family!,
    bindAddress: bindAddress as string,
    bindPort: optionalInteger(bind.port, 'options.bind.port', 0, 0, 65535),
    peers,
    peerCount: list.length,
    header: optionalInteger(options.header, 'options.header', 0, 0, 1024),
    onOutgoing: hook(options.onOutgoing, 'options.onOutgoing'),
    onIncoming: hook(options.onIncoming, 'options.onIncoming'),
    maxBatch: optionalInteger(options.maxBatch, 'options.maxBatch', 64, 1, 1024),
    receiveBufferSize: optionalInteger(options.receiveBufferSize, 'options.receiveBufferSize', 0, 0, 0x7fffffff),
    sendBufferSize: optionalInteger(options.sendBufferSize, 'options.sendBufferSize', 0, 0, 0x7fffffff),
    closeDevice: validateBoolean(options.closeDevice, 'options.closeDevice', false),
    fd,
    closeFd: validateBoolean(options.closeFd, 'options.closeFd', false),
    offload: options.offload === undefined ? undefined : validateBoolean(options.offload, 'options.offload'),
  };
}

/**
 * The index in the peer table of the sockaddr at `addresses[at..]`, or -1:
 * family, port and address must match (IPv6 flow label and scope aside).
 */
export function findPeer(peers: Buffer, peerCount: number, addresses: Buffer, at: number): number {
  const v4 = addresses[at] === AF_INET && addresses[at + 1] === 0;
  const end = v4 ? 8 : 24;
  for (let p = 0; p < peerCount; p++) {
    const base = p * SOCKADDR_SIZE;
    if (peers.compare(addresses, at, at + 4, base, base + 4) !== 0) continue;
    if (peers.compare(addresses, at + (v4 ? 4 : 8), at + end, base + (v4 ? 4 : 8), base + end) === 0) return p;
  }
  return -1;
}
