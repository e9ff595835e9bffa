// A TUN device's packets over one UDP socket, a batch at a time both ways:
// readBatches() → outgoing hook → sendmmsg; recvmmsg → incoming hook →
// writePackets(). No JS call and no object per packet; hooks see whole batches.
import { EAGAIN, EINVAL } from '../internal/errno';
import { native, type NativeUdpSocket } from '../internal/native';
import {
  TunError,
  errnoName,
  fromNative,
  invalidType,
  isNativeErrnoError,
  invalidValue,
  outOfRange,
  tunnelClosed,
} from '../internal/errors';
import { validateBytes, validateInteger } from '../internal/validators';
import { TunDevice } from '../tun-device';
import { DeviceCounters } from '../device/stats';
import { findPeer, SOCKADDR_SIZE, validateUdpTunnelOptions, type ValidUdpTunnelOptions } from './udp-options';
import { OffloadPath } from './udp-offload';

export type { UdpBatch, UdpBatchHook, UdpPeer, UdpTunnelOptions } from './udp-options';
import type { UdpBatch, UdpTunnelOptions } from './udp-options';

/** What a tunnel has carried and dropped so far. */
export interface UdpTunnelCounters {
  /** Datagrams (and their payload bytes, headers not counted) the kernel took for sending. */
  packetsOut: number;
  bytesOut: number;
  /** Packets (and bytes) received and handed to the device. */
  packetsIn: number;
  bytesIn: number;
  /**
   * Packets dropped, by reason: 'hook' (a hook set length 0), 'socket-full'
   * (the send buffer was full: EAGAIN), 'device-full', 'unknown-peer',
   * 'short' (no payload after the header), 'too-big', 'truncated' (a
   * datagram larger than the device's packets), 'invalid' (a hook
   * pointed outside the buffer or at no peer), 'malformed' (a packet from
   * an offload device that could not be cut into segments), or
   * the errno name a send failed with ('EMSGSIZE').
   */
  dropped: Record<string, number>;
  /** Receive errors by errno name; the socket goes on after each. */
  errors: Record<string, number>;
  /** Datagrams a hook took for itself with `consume(i)` (handshakes, keepalives). */
  consumed: number;
  /** Datagrams sent with send(). */
  controlOut: number;
  /**
   * Sendmsgs that carried several datagrams (UDP_SEGMENT; on either path),
   * and on the offload path: datagrams received holding several (UDP_GRO),
   * and super-packets coalesced from several packets written to the device.
   */
  gsoSends: number;
  groReceives: number;
  superPacketsIn: number;
}

/** A device joined to a UDP socket; made by {@link udpTunnel}. */
export class UdpTunnel {
  readonly device: TunDevice;
  /** The local UDP port. */
  readonly port: number;
  readonly #options: ValidUdpTunnelOptions;
  readonly #socket: NativeUdpSocket;
  readonly #counters: UdpTunnelCounters = {
    packetsOut: 0,
    bytesOut: 0,
    packetsIn: 0,
    bytesIn: 0,
    dropped: {},
    errors: {},
    consumed: 0,
    controlOut: 0,
    gsoSends: 0,
    groReceives: 0,
    superPacketsIn: 0,
  };
  readonly #offload: OffloadPath | undefined;
  #consumedInBatch = 0;
  #headers: Buffer;
  #peerIndex: Uint16Array;
  #closing: Promise<void> | undefined;
  /** Connected to its one peer: the kernel hears no one else, so senders need no check. */
  #connected = false;
  /** Stops the device's stats counting what the socket writes into it natively. */
  #forgetDelivered: (() => void) | undefined;
  readonly #onDeviceClose = (): void => void this.close();

  /** Use {@link udpTunnel}. */
  constructor(device: TunDevice, options: ValidUdpTunnelOptions) {
    this.device = device;
    this.#options = options;
    const offload = options.offload ?? device.offload !== null;
    if (offload && device.offload === null) {
      throw invalidValue('options.offload', true, `needs a device opened with \`offload\`; '${device.name}' was not`);
    }
    this.#offload = offload
      ? new OffloadPath(device, options.header, options.family === 4 ? MAX_UDP_PAYLOAD_V4 : MAX_UDP_PAYLOAD)
      : undefined;
    const created = options.fd === undefined ? openSocket(options) : adoptSocket(options.fd, options.family, !options.closeFd);
    this.port = created.port;
    try {
      this.#socket = new native.UdpSocket(
        created.fd,
        offload ? MAX_UDP_PAYLOAD : options.header + device.maxPacketSize,
        options.maxBatch,
        options.header,
        offload,
        (batch, d, count, headers, addresses, segments) => this.#onDatagrams(batch, d, count, headers, addresses, segments),
        (errno) => this.#count(this.#counters.errors, errnoName(errno), 1),
      );
    } catch (error) {
      const gro = isNativeErrnoError(error) && error.syscall === 'setsockopt(UDP_GRO)';
      throw fromNative(error, gro ? { hint: 'UDP_GRO needs Linux 5.0: pass offload: false on an older kernel.' } : {});
    }
    // One peer: a connected socket keeps its route (no lookup per datagram)
    // and the kernel turns away every other sender. An adopted socket stays as it was.
    try {
      if (options.peerCount === 1 && options.fd === undefined) {
        this.#socket.connect(options.peers);
        this.#connected = true;
      }
      // Nothing to look at in JS: the socket writes what it receives into the device itself.
      if (this.#connected && !offload && options.onIncoming === undefined) {
        this.#socket.deliverTo(device.fd, device.maxPacketSize);
        const delivered = (): readonly [number, number] => {
          const [packets, bytes] = this.#socket.delivered;
          return [packets, bytes];
        };
        this.#forgetDelivered = DeviceCounters.of.get(device)?.addExternalWriter(delivered);
      }
    } catch (error) {
      this.#socket.close();
      throw fromNative(error);
    }
    this.#headers = Buffer.alloc(0);
    this.#peerIndex = new Uint16Array(0);
    try {
      device.readBatches((slab, d, count) => this.#onPackets(slab, d, count));
    } catch (error) {
      this.#socket.close();
      throw error;
    }
    device.once('close', this.#onDeviceClose);
  }

  /** A snapshot of the counters. */
  get counters(): UdpTunnelCounters {
    const c = this.#counters;
    const dropped = { ...c.dropped };
    const truncated = this.#socket.truncated;
    if (truncated > 0) dropped.truncated = truncated;
    const [packets, bytes, short, tooBig, deviceFull] = this.#socket.delivered;
    this.#count(dropped, 'short', short);
    this.#count(dropped, 'too-big', tooBig);
    this.#count(dropped, 'device-full', deviceFull);
    return { ...c, packetsIn: c.packetsIn + packets, bytesIn: c.bytesIn + bytes, dropped, errors: { ...c.errors } };
  }

  /** Lets the process exit while the tunnel is open (its socket and its device), like dgram's socket.unref(). */
  unref(): this {
    if (!this.closed) this.#socket.unref();
    if (!this.device.closed) this.device.unref();
    return this;
  }

  /** Undoes unref(). */
  ref(): this {
    if (!this.closed) this.#socket.ref();
    if (!this.device.closed) this.device.ref();
    return this;
  }

  /**
   * Sends one datagram that is not a device packet (a handshake, a
   * keepalive) to `peers[peer]`, as it is: no tunnel header is added, no hook
   * sees it. Returns false when the socket's send buffer is full; throws a
   * TunError for any other refusal.
   */
  send(data: Uint8Array, peer = 0): boolean {
    validateBytes(data, 'data');
    const { family, peers, peerCount } = this.#options;
    const max = family === 4 ? MAX_UDP_PAYLOAD_V4 : MAX_UDP_PAYLOAD;
    if (data.length > max) throw outOfRange('data.length', `<= ${max}`, data.length);
    validateInteger(peer, 'peer', 0, peerCount - 1);
    if (this.closed) throw tunnelClosed('send()');
    const d = new Uint32Array([0, data.length]);
    const sent = this.#socket.sendBatch(data, d, 0, 1, null, peers, new Uint16Array([peer]), 0);
    if (sent === 1) {
      this.#counters.controlOut++;
      return true;
    }
    const err = this.#socket.lastError;
    if (err === EAGAIN) return false;
    throw new TunError(err === 0 ? EINVAL : err, 'sendmmsg');
  }

  /** Whether close() was called or the device closed. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Stops both directions and closes the socket (and the device, with
   * `closeDevice`). Packets in flight are dropped, as on any UDP path.
   * Idempotent; safe from inside a hook.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.device.off('close', this.#onDeviceClose);
    if (!this.device.closed) this.device.pauseBatches();
    this.#socket.close();
    this.#forgetDelivered?.();
    this.#closing = this.#options.closeDevice ? this.device.close() : Promise.resolve();
    return this.#closing;
  }

  /** Closes the tunnel: `await using t = udpTunnel(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #count(table: Record<string, number>, reason: string, n: number): void {
    if (n > 0) table[reason] = (table[reason] ?? 0) + n;
  }

  /** The hook's view of a batch; consume(i) empties packet i and counts it. */
  #batch(buffer: Buffer, descriptors: Uint32Array, count: number, headers: Buffer | null, peer: Uint16Array): UdpBatch {
    this.#consumedInBatch = 0;
    const consume = (i: number): void => {
      validateInteger(i, 'index', 0, count - 1);
      if (descriptors[2 * i + 1] === 0) return;
      descriptors[2 * i + 1] = 0;
      this.#consumedInBatch++;
    };
    return { buffer, descriptors, count, headers, peer, consume };
  }

  /** Empties counted by #compact as the hook's drops, less those it consumed. */
  #takeConsumed(): number {
    const n = this.#consumedInBatch;
    this.#consumedInBatch = 0;
    this.#counters.consumed += n;
    return n;
  }

  /** Packets read from the device, out to the peers. */
  #onPackets(slab: Buffer, d: Uint32Array, count: number): void {
    if (this.closed) return;
    if (this.#offload !== undefined) return this.#sendOffloaded(slab, d, count);
    const { header, onOutgoing, peers } = this.#options;
    if (this.#peerIndex.length < count) {
      this.#peerIndex = new Uint16Array(count);
      this.#headers = Buffer.alloc(count * header);
    }
    const peer = this.#peerIndex.subarray(0, count).fill(0);
    const headers = header > 0 ? this.#headers.subarray(0, count * header) : null;
    let n = count;
    if (onOutgoing !== undefined) {
      onOutgoing(this.#batch(slab, d, count, headers, peer));
      if (this.closed) return;
      n = this.#compact(slab, d, count, headers, peer, 'hook', this.#takeConsumed());
    }
    const gsoBefore = this.#socket.gsoMessages;
    let start = 0;
    while (start < n && !this.closed) {
      const sent = this.#socket.sendBatch(
        slab,
        d,
        start,
        n - start,
        headers?.subarray(start * header) ?? null,
        peers,
        peer.subarray(start),
        0,
        true,
      );
      for (let i = start; i < start + sent; i++) this.#counters.bytesOut += d[2 * i + 1];
      this.#counters.packetsOut += sent;
      start += sent;
      if (start >= n) break;
      const err = this.#socket.lastError;
      if (err === EAGAIN || err === 0) {
        this.#count(this.#counters.dropped, 'socket-full', n - start);
        break;
      }
      // One datagram the kernel refused (EMSGSIZE, a peer unreachable): skip it, go on.
      this.#count(this.#counters.dropped, errnoName(err), 1);
      start++;
    }
    this.#counters.gsoSends += this.#socket.gsoMessages - gsoBefore;
  }

  /** Datagrams from the socket, into the device. */
  #onDatagrams(
    batch: Buffer,
    d: Uint32Array,
    count: number,
    headers: Buffer | null,
    addresses: Buffer,
    segments: Uint32Array,
  ): void {
    if (this.closed) return;
    const { peers, peerCount, onIncoming } = this.#options;
    const offload = this.#offload;
    let source: Uint32Array | undefined;
    if (offload !== undefined) {
      const split = offload.split(batch, d, count, headers, segments);
      this.#counters.groReceives += split.coalesced;
      ({ descriptors: d, count, headers, source } = split);
    }
    const max = offload !== undefined ? offload.maxPacket : this.device.maxPacketSize;
    const peer = new Uint16Array(count);
    const connected = this.#connected;
    for (let i = 0; i < count; i++) {
      const p = connected ? 0 : findPeer(peers, peerCount, addresses, (source?.[i] ?? i) * SOCKADDR_SIZE);
      const length = d[2 * i + 1];
      const reason = p < 0 ? 'unknown-peer' : length === 0 ? 'short' : undefined;
      if (reason !== undefined) {
        this.#count(this.#counters.dropped, reason, 1);
        d[2 * i + 1] = 0;
      } else {
        peer[i] = p;
      }
    }
    let n = this.#compact(batch, d, count, headers, peer, '');
    if (onIncoming !== undefined && n > 0) {
      onIncoming(this.#batch(batch, d, n, headers, peer));
      if (this.closed) return;
    }
    for (let i = 0; i < n; i++) {
      if (d[2 * i + 1] > max) {
        this.#count(this.#counters.dropped, 'too-big', 1);
        d[2 * i + 1] = 0;
      }
    }
    n = this.#compact(batch, d, n, headers, peer, 'hook', this.#takeConsumed());
    if (n === 0 || this.device.closed) return;
    if (offload !== undefined) {
      const c = this.#counters;
      const w = offload.write(batch, d, n);
      c.packetsIn += w.packets;
      c.bytesIn += w.bytes;
      c.superPacketsIn += w.superPackets;
      this.#count(c.dropped, 'device-full', w.dropped);
      return;
    }
    const written = this.device.writePackets(batch, d, n);
    for (let i = 0; i < written; i++) this.#counters.bytesIn += d[2 * i + 1];
    this.#counters.packetsIn += written;
    this.#count(this.#counters.dropped, 'device-full', n - written);
  }

  /** Offload path out: segments, the hook per segment, then runs of equal segments as single UDP_SEGMENT sends. */
  #sendOffloaded(slab: Buffer, d: Uint32Array, count: number): void {
    const offload = this.#offload!;
    const { onOutgoing, peers } = this.#options;
    const c = this.#counters;
    const out = offload.segment(slab, d, count);
    this.#count(c.dropped, 'malformed', out.malformed);
    let n = out.count;
    if (onOutgoing !== undefined && n > 0) {
      onOutgoing(this.#batch(out.buffer, out.descriptors, n, out.headers, out.peer));
      if (this.closed) return;
      n = this.#compact(out.buffer, out.descriptors, n, out.headers, out.peer, 'hook', this.#takeConsumed(), out.group);
    }
    const runs = offload.runs(out, n);
    let start = 0;
    while (start < runs.count && !this.closed) {
      const sent = this.#socket.sendBatch(
        out.buffer,
        runs.descriptors,
        start,
        runs.count - start,
        runs.headers?.subarray(start * this.#options.header) ?? null,
        peers,
        runs.peer.subarray(start),
        runs.segmentSize.subarray(start),
      );
      for (let i = start; i < start + sent; i++) {
        c.packetsOut += runs.packets[i];
        c.bytesOut += runs.bytes[i];
        if (runs.packets[i] > 1) c.gsoSends++;
      }
      start += sent;
      if (start >= runs.count) break;
      const err = this.#socket.lastError;
      if (err === EAGAIN || err === 0) {
        let left = 0;
        for (let i = start; i < runs.count; i++) left += runs.packets[i];
        this.#count(c.dropped, 'socket-full', left);
        break;
      }
      this.#count(c.dropped, errnoName(err), runs.packets[start]);
      start++;
    }
  }

  /**
   * Moves the packets of nonzero length to the front (descriptors, headers
   * and peer indexes alike, and `group`) and counts the empty ones, but
   * `consumed` of them, under `reason` ('': counted already).
   */
  #compact(
    buffer: Buffer,
    d: Uint32Array,
    count: number,
    headers: Buffer | null,
    peer: Uint16Array,
    reason: string,
    consumed = 0,
    group?: Uint32Array,
  ): number {
    const { header, peerCount } = this.#options;
    let n = 0;
    let empty = 0;
    for (let i = 0; i < count; i++) {
      if (d[2 * i + 1] === 0) {
        empty++;
        continue;
      }
      // A hook may have written anything: a packet outside the buffer, or a peer that does not exist, goes nowhere.
      if (d[2 * i] + d[2 * i + 1] > buffer.length || peer[i] >= peerCount) {
        this.#count(this.#counters.dropped, 'invalid', 1);
        continue;
      }
      if (n !== i) {
        d[2 * n] = d[2 * i];
        d[2 * n + 1] = d[2 * i + 1];
        peer[n] = peer[i];
        if (group !== undefined) group[n] = group[i];
        headers?.copy(headers, n * header, i * header, (i + 1) * header);
      }
      n++;
    }
    if (reason !== '') this.#count(this.#counters.dropped, reason, empty - consumed);
    return n;
  }
}

/** The largest UDP payload over IPv6, and over IPv4 (20 bytes of IP header less). */
const MAX_UDP_PAYLOAD = 65527;
const MAX_UDP_PAYLOAD_V4 = 65507;
const SOCK_DGRAM = 2;

function openSocket(o: ValidUdpTunnelOptions): { fd: number; port: number } {
  try {
    return native.UdpSocket.open(o.family, o.bindAddress, o.bindPort, o.receiveBufferSize, o.sendBufferSize);
  } catch (error) {
    const where = `${o.bindAddress} port ${o.bindPort}`;
    throw fromNative(error, { hint: `The socket could not be bound to ${where}: another address, or port 0 (any free one).` });
  }
}

/** Checks that `fd` is a bound UDP socket of the peers' family; returns a duplicate when `dup`. */
function adoptSocket(fd: number, family: 4 | 6, dup: boolean): { fd: number; port: number } {
  let s: ReturnType<typeof native.UdpSocket.inspect>;
  try {
    s = native.UdpSocket.inspect(fd, false);
  } catch (error) {
    throw fromNative(error, { hint: 'options.fd must be an open socket: a bound UDP (SOCK_DGRAM) socket of yours.' });
  }
  const wrong =
    s.type !== SOCK_DGRAM
      ? 'is not a datagram (SOCK_DGRAM) socket'
      : s.domain !== family
        ? `is not an IPv${family} socket, the family of the peers`
        : s.port === 0
          ? 'is not bound: bind it to a port first'
          : undefined;
  if (wrong !== undefined) {
    throw new TunError(EINVAL, 'udpTunnel(options.fd)', { hint: `fd ${fd} ${wrong}` });
  }
  if (!dup) return { fd, port: s.port };
  try {
    return { fd: native.UdpSocket.inspect(fd, true).fd, port: s.port };
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * Carries `device`'s packets to a peer over UDP and writes what the peers
 * send into the device, a batch per wake-up each way. Packets go as the
 * device reads them (packet information or an Ethernet header included):
 * open the peer's device the same way. A device opened with `offload` sends
 * plain IP packets, a super-packet as one UDP_SEGMENT sendmsg of its
 * segments, and receives with UDP_GRO (see `options.offload`).
 *
 * ```ts
 * const tunnel = udpTunnel(dev, { bind: { port: 51820 }, peer: { address: '192.0.2.7', port: 51820 } });
 * ```
 */
export function udpTunnel(device: TunDevice, options: UdpTunnelOptions): UdpTunnel {
  if (!(device instanceof TunDevice)) throw invalidType('device', 'a TunDevice', device);
  const valid = validateUdpTunnelOptions(options);
  return new UdpTunnel(device, valid);
}
