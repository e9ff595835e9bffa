// A TUN device's packets carried over one UDP socket, a batch at a time in
// both directions: the device's readBatches() → the outgoing hook → one
// sendmmsg; one recvmmsg → the incoming hook → the device's writePackets().
// No JS call and no object per packet; the hooks see whole batches.
import { EAGAIN } from '../internal/errno';
import { native, type NativeUdpSocket } from '../internal/native';
import { errnoName, fromNative, invalidType } from '../internal/errors';
import { TunDevice } from '../tun-device';
import { findPeer, SOCKADDR_SIZE, validateUdpTunnelOptions, type ValidUdpTunnelOptions } from './udp-options';

export type { UdpBatch, UdpBatchHook, UdpPeer, UdpTunnelOptions } from './udp-options';
import type { UdpTunnelOptions } from './udp-options';

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
   * pointed outside the buffer or at no peer), or
   * the errno name a send failed with ('EMSGSIZE').
   */
  dropped: Record<string, number>;
  /** Receive errors by errno name; the socket goes on after each. */
  errors: Record<string, number>;
}

/** A device joined to a UDP socket; made by {@link udpTunnel}. */
export class UdpTunnel {
  readonly device: TunDevice;
  /** The local UDP port. */
  readonly port: number;
  readonly #options: ValidUdpTunnelOptions;
  readonly #socket: NativeUdpSocket;
  readonly #counters: UdpTunnelCounters = { packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0, dropped: {}, errors: {} };
  #headers: Buffer;
  #peerIndex: Uint16Array;
  #closing: Promise<void> | undefined;
  readonly #onDeviceClose = (): void => void this.close();

  /** Use {@link udpTunnel}. */
  constructor(device: TunDevice, options: ValidUdpTunnelOptions) {
    this.device = device;
    this.#options = options;
    let created: { fd: number; port: number };
    try {
      const o = options;
      created = native.UdpSocket.open(o.family, o.bindAddress, o.bindPort, o.receiveBufferSize, o.sendBufferSize);
    } catch (error) {
      const where = `${options.bindAddress} port ${options.bindPort}`;
      throw fromNative(error, { hint: `The socket could not be bound to ${where}: another address, or port 0 (any free one).` });
    }
    this.port = created.port;
    this.#socket = new native.UdpSocket(
      created.fd,
      options.header + device.maxPacketSize,
      options.maxBatch,
      options.header,
      false,
      (batch, d, count, headers, addresses) => this.#onDatagrams(batch, d, count, headers, addresses),
      (errno) => this.#count(this.#counters.errors, errnoName(errno), 1),
    );
    // One peer: a connected socket keeps its route (no lookup per datagram)
    // and the kernel turns away every other sender.
    try {
      if (options.peerCount === 1) this.#socket.connect(options.peers);
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
    return { ...c, dropped, errors: { ...c.errors } };
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

  /** Packets read from the device, out to the peers. */
  #onPackets(slab: Buffer, d: Uint32Array, count: number): void {
    if (this.closed) return;
    const { header, onOutgoing, peers } = this.#options;
    if (this.#peerIndex.length < count) {
      this.#peerIndex = new Uint16Array(count);
      this.#headers = Buffer.alloc(count * header);
    }
    const peer = this.#peerIndex.subarray(0, count).fill(0);
    const headers = header > 0 ? this.#headers.subarray(0, count * header) : null;
    let n = count;
    if (onOutgoing !== undefined) {
      onOutgoing({ buffer: slab, descriptors: d, count, headers, peer });
      if (this.closed) return;
      n = this.#compact(slab, d, count, headers, peer, 'hook');
    }
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
  }

  /** Datagrams from the socket, into the device. */
  #onDatagrams(batch: Buffer, d: Uint32Array, count: number, headers: Buffer | null, addresses: Buffer): void {
    if (this.closed) return;
    const { peers, peerCount, onIncoming } = this.#options;
    const max = this.device.maxPacketSize;
    const peer = new Uint16Array(count);
    for (let i = 0; i < count; i++) {
      const p = findPeer(peers, peerCount, addresses, i * SOCKADDR_SIZE);
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
      onIncoming({ buffer: batch, descriptors: d, count: n, headers, peer });
      if (this.closed) return;
    }
    for (let i = 0; i < n; i++) {
      if (d[2 * i + 1] > max) {
        this.#count(this.#counters.dropped, 'too-big', 1);
        d[2 * i + 1] = 0;
      }
    }
    n = this.#compact(batch, d, n, headers, peer, 'hook');
    if (n === 0 || this.device.closed) return;
    const written = this.device.writePackets(batch, d, n);
    for (let i = 0; i < written; i++) this.#counters.bytesIn += d[2 * i + 1];
    this.#counters.packetsIn += written;
    this.#count(this.#counters.dropped, 'device-full', n - written);
  }

  /**
   * Moves the packets of nonzero length to the front (descriptors, headers
   * and peer indexes alike) and counts the empty ones under `reason` ('': counted already).
   */
  #compact(buffer: Buffer, d: Uint32Array, count: number, headers: Buffer | null, peer: Uint16Array, reason: string): number {
    const { header, peerCount } = this.#options;
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (d[2 * i + 1] === 0) continue;
      // A hook may have written anything: a packet outside the buffer, or a peer that does not exist, goes nowhere.
      if (d[2 * i] + d[2 * i + 1] > buffer.length || peer[i] >= peerCount) {
        this.#count(this.#counters.dropped, 'invalid', 1);
        continue;
      }
      if (n !== i) {
        d[2 * n] = d[2 * i];
        d[2 * n + 1] = d[2 * i + 1];
        peer[n] = peer[i];
        headers?.copy(headers, n * header, i * header, (i + 1) * header);
      }
      n++;
    }
    if (reason !== '') this.#count(this.#counters.dropped, reason, count - n);
    return n;
  }
}

/**
 * Carries `device`'s packets to a peer over UDP and writes what the peers
 * send into the device, a batch per wake-up each way. Packets go as the
 * device reads them (a virtio_net_hdr, packet information or an Ethernet
 * header included): open the peer's device the same way. A datagram larger
 * than UDP allows (an offload super-packet near 64 KiB) is dropped as 'EMSGSIZE'.
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
