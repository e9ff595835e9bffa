// The offload path of a UDP tunnel, for a device opened with `offload`:
// super-packets cut into plain IP segments (natively) laid out for one UDP_SEGMENT send
// each, and UDP_GRO datagrams split into packets and coalesced for the device.
import { coalesce } from '../packet/gro';
import { native } from '../internal/native';
import { GsoType, VIRTIO_NET_HDR_SIZE, parseVirtioNetHeader } from '../packet/virtio-net';
import type { TunDevice } from '../tun-device';

/** Segments in one UDP_SEGMENT send: UDP_MAX_SEGMENTS on the oldest kernels that have it. */
const MAX_SEGMENTS = 64;

/** Segments read from the device: packet i at descriptors[2i], with `header` free bytes before it. */
export interface Segmented {
  buffer: Buffer;
  descriptors: Uint32Array;
  count: number;
  headers: Buffer | null;
  peer: Uint16Array;
  /** The super-packet each segment came from. */
  group: Uint32Array;
  /** Packets splitGso could make no sense of. */
  malformed: number;
}

/** Datagrams to send: a run of equal segments is one datagram cut every segmentSize[i] bytes (0: not cut). */
export interface Runs {
  descriptors: Uint32Array;
  count: number;
  headers: Buffer | null;
  peer: Uint16Array;
  segmentSize: Uint16Array;
  /** Packets and their bytes (tunnel headers not counted) in each datagram. */
  packets: Uint16Array;
  bytes: Uint32Array;
}

/** Received datagrams split into their segments; source[i]: the datagram packet i came in. */
export interface Split {
  descriptors: Uint32Array;
  count: number;
  headers: Buffer | null;
  source: Uint32Array | undefined;
  /** Datagrams that held more than one segment. */
  coalesced: number;
}

export interface Written {
  packets: number;
  bytes: number;
  superPackets: number;
  /** Packets not written: the device's queue was full. */
  dropped: number;
}

export class OffloadPath {
  /** The largest plain IP packet the device takes. */
  readonly maxPacket: number;
  readonly #device: TunDevice;
  readonly #header: number;
  readonly #maxDatagram: number;
  readonly #udp: boolean;
  readonly #one = new Uint32Array(2);

  constructor(device: TunDevice, header: number, maxDatagram: number) {
    this.#device = device;
    this.#header = header;
    this.#maxDatagram = maxDatagram;
    this.#udp = device.offload?.uso ?? false;
    this.maxPacket = device.maxPacketSize - VIRTIO_NET_HDR_SIZE;
  }

  /** Cuts every packet read from the device into plain IP packets (as splitGso does), `header` bytes apart. */
  segment(slab: Buffer, d: Uint32Array, count: number): Segmented {
    const s = native.UdpSocket.segment(slab, d, count, this.#header);
    const headers = this.#header > 0 ? Buffer.alloc(s.count * this.#header) : null;
    return { ...s, headers, peer: new Uint16Array(s.count) };
  }

  /**
   * Groups the first `n` segments into datagrams: consecutive segments of one
   * super-packet, to one peer, where they were laid out, all as long as the
   * first but for a shorter last. Their headers are copied into the gaps.
   */
  runs(s: Segmented, n: number): Runs {
    const h = this.#header;
    const d = s.descriptors;
    const r: Runs = {
      descriptors: new Uint32Array(2 * n),
      count: 0,
      headers: h > 0 ? Buffer.alloc(n * h) : null,
      peer: new Uint16Array(n),
      segmentSize: new Uint16Array(n),
      packets: new Uint16Array(n),
      bytes: new Uint32Array(n),
    };
    let m = 0;
    for (let i = 0; i < n;) {
      const length = d[2 * i + 1];
      const stride = h + length;
      let size = stride;
      let j = i + 1;
      while (
        j < n &&
        j - i < MAX_SEGMENTS &&
        stride <= 0xffff &&
        s.group[j] === s.group[i] &&
        s.peer[j] === s.peer[i] &&
        d[2 * j - 1] === length &&
        d[2 * j] === d[2 * i] + (j - i) * stride &&
        d[2 * j + 1] <= length &&
        size + h + d[2 * j + 1] <= this.#maxDatagram
      ) {
        size += h + d[2 * j + 1];
        j++;
      }
      if (s.headers !== null) {
        for (let k = i + 1; k < j; k++) s.headers.copy(s.buffer, d[2 * k] - h, k * h, (k + 1) * h);
        s.headers.copy(r.headers!, m * h, i * h, (i + 1) * h);
      }
      r.descriptors[2 * m] = d[2 * i];
      r.descriptors[2 * m + 1] = size - h;
      r.segmentSize[m] = j - i > 1 ? stride : 0;
      r.peer[m] = s.peer[i];
      r.packets[m] = j - i;
      r.bytes[m] = size - (j - i) * h;
      m++;
      i = j;
    }
    r.count = m;
    return r;
  }

  /** Splits each UDP_GRO datagram (segments[i] bytes a datagram, headers included) into its packets. */
  split(batch: Buffer, d: Uint32Array, count: number, headers: Buffer | null, segments: Uint32Array): Split {
    const h = this.#header;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const size = segments[i];
      total += size > h ? Math.ceil((d[2 * i + 1] + h) / size) : 1;
    }
    if (total === count) return { descriptors: d, count, headers, source: undefined, coalesced: 0 };
    const out = new Uint32Array(2 * total);
    const source = new Uint32Array(total);
    const outHeaders = h > 0 ? Buffer.alloc(total * h) : null;
    let coalesced = 0;
    let k = 0;
    for (let i = 0; i < count; i++) {
      const start = d[2 * i];
      const end = start + d[2 * i + 1];
      const size = segments[i];
      const first = size > h ? Math.min(size - h, end - start) : end - start;
      out[2 * k] = start;
      out[2 * k + 1] = first;
      headers?.copy(outHeaders!, k * h, i * h, (i + 1) * h);
      source[k++] = i;
      if (size <= h || first === end - start) continue;
      coalesced++;
      // Every later segment carries its own tunnel header inline.
      for (let at = start + first; at < end; at += size) {
        const packet = Math.min(at + h, end);
        if (outHeaders !== null) batch.copy(outHeaders, k * h, at, packet);
        out[2 * k] = packet;
        out[2 * k + 1] = Math.min(size - h, end - packet);
        source[k++] = i;
      }
    }
    return { descriptors: out, count: k, headers: outHeaders, source, coalesced };
  }

  /** Coalesces the first `n` packets into super-packets and writes them to the device, one write each. */
  write(batch: Buffer, d: Uint32Array, n: number): Written {
    const packets = new Array<Buffer>(n);
    for (let i = 0; i < n; i++) packets[i] = batch.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]);
    const merged = coalesce(packets, { udp: this.#udp });
    const w: Written = { packets: 0, bytes: 0, superPackets: 0, dropped: 0 };
    let full = false;
    for (const p of merged) {
      const header = parseVirtioNetHeader(p);
      const ip = p.length - VIRTIO_NET_HDR_SIZE;
      let segments = 1;
      if (header !== null && header.gsoType !== GsoType.NONE && header.gsoSize > 0) {
        segments = Math.ceil((ip - header.hdrLen) / header.gsoSize);
      }
      if (!full) {
        this.#one[1] = p.length;
        full = this.#device.writePackets(p, this.#one, 1) === 0;
      }
      if (full) {
        w.dropped += segments;
        continue;
      }
      w.packets += segments;
      w.bytes += ip + (segments - 1) * (header?.hdrLen ?? 0);
      if (segments > 1) w.superPackets++;
    }
    return w;
  }
}
