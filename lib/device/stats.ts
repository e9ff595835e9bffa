// What a device counts, and what it says about a packet the kernel refused.
import { EINVAL } from '../internal/errno';
import type { EnabledOffloads } from './offload';
import type { TunMode } from './options';

/**
 * What a device has moved since it was opened, counted in this process
 * (the kernel's own counters, TX-dropped among them, are in `await dev.link()`).
 *
 * ```ts
 * const { packetsRead, packetsDropped, dropped } = dev.stats;
 * if (dropped.EIO) console.warn(`${dropped.EIO} packets written while the link was down`);
 * ```
 */
export interface TunDeviceStats {
  /** Packets (and their bytes) read from the kernel, through `readable` or readBatches(). */
  readonly packetsRead: number;
  readonly bytesRead: number;
  /** Packets (and bytes) the kernel accepted from `writable` or writePackets(). */
  readonly packetsWritten: number;
  readonly bytesWritten: number;
  /**
   * Packets not delivered: refused by the kernel, detached while queued, or discarded by
   * destroy() (each a 'drop' event); and packets read that closing discarded ('closed', no event).
   */
  readonly packetsDropped: number;
  /**
   * packetsDropped by reason: the kernel's ('EINVAL', 'EIO', ...), 'ERR_PACKET_DETACHED',
   * 'ERR_STREAM_DESTROYED', or 'closed' (read, but discarded by destroy(error) or a close from a read handler).
   */
  readonly dropped: Readonly<Record<string, number>>;
}

/** The `dropped` reason of packets read that closing discarded. */
export const DROPPED_AT_CLOSE = 'closed';

/** A device's counters, shared by its read and write sides. */
export class DeviceCounters {
  /** Each open device's counters, for the library's own writers into its fd. */
  static readonly of = new WeakMap<object, DeviceCounters>();

  packetsRead = 0;
  bytesRead = 0;
  packetsWritten = 0;
  bytesWritten = 0;
  readonly dropped: Record<string, number> = {};
  /** Writers into the device's fd that bypass its write side (a UDP tunnel's socket): [packets, bytes] so far. */
  readonly #external = new Set<() => readonly [number, number]>();

  /** Counts another writer's packets as written; the returned function folds in its last count and forgets it. */
  addExternalWriter(count: () => readonly [number, number]): () => void {
    this.#external.add(count);
    return () => {
      if (!this.#external.delete(count)) return;
      const [packets, bytes] = count();
      this.packetsWritten += packets;
      this.bytesWritten += bytes;
    };
  }

  /** Packets read from the kernel that closing the device discarded before anyone got them. */
  discardedAtClose(packets: number): void {
    if (packets > 0) this.dropped[DROPPED_AT_CLOSE] = (this.dropped[DROPPED_AT_CLOSE] ?? 0) + packets;
  }

  /** dev.stats: a copy, so the caller's object does not change under it. */
  snapshot(): TunDeviceStats {
    let packetsWritten = this.packetsWritten;
    let bytesWritten = this.bytesWritten;
    for (const count of this.#external) {
      const [packets, bytes] = count();
      packetsWritten += packets;
      bytesWritten += bytes;
    }
    return {
      packetsRead: this.packetsRead,
      bytesRead: this.bytesRead,
      packetsWritten,
      bytesWritten,
      packetsDropped: Object.values(this.dropped).reduce((sum, n) => sum + n, 0),
      dropped: { ...this.dropped },
    };
  }
}

/** Errors after which the fd is useless: the device is closed with them. */
export const FATAL_WRITE_ERRORS = new Set(['EBADF', 'EBADFD', 'ENODEV', 'ENXIO']);

/** What dropHint() needs to know of the device. */
export interface DropContext {
  readonly offload: EnabledOffloads | null;
  readonly packetInfo: boolean;
  readonly mode: TunMode;
}

/** What to do about a packet the kernel refused, in its words for this device. */
export function dropHint(packet: Uint8Array, errno: number, device: DropContext): string | undefined {
  if (errno !== EINVAL) return undefined;
  if (device.offload !== null) return 'The packet must start with a valid virtio_net_hdr (this device has offloads on)';
  if (device.packetInfo) return 'The packet must start with the 4-byte packet information header (flags, then the EtherType)';
  if (device.mode === 'tap') return 'The frame is not a valid Ethernet frame (at least the 14-byte header)';
  const version = packet.length > 0 ? packet[0] >> 4 : -1;
  const looksLikePacketInfo =
    packet.length >= 4 && ((packet[2] === 0x08 && packet[3] === 0x00) || (packet[2] === 0x86 && packet[3] === 0xdd));
  if (looksLikePacketInfo && version !== 4 && version !== 6) {
    return 'The packet starts with a 4-byte packet information header, but the device was opened without packetInfo: write bare IP packets, or open with packetInfo: true';
  }
  return `A TUN device takes bare IPv4 or IPv6 packets; this one's first byte (0x${(packet[0] ?? 0).toString(16).padStart(2, '0')}) names IP version ${version}`;
}

/** The warning for a first drop nobody listens for; later ones are only counted. */
export function warnUnheardDrop(error: Error, device: string): void {
  process.emitWarning(
    `${error.message}. Further drops on '${device}' are counted in dev.stats; listen for 'drop' to see each one.`,
    {
      type: 'TunDeviceWarning',
      code: 'TUNTAP_PACKET_DROPPED',
    },
  );
}
