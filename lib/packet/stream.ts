// IP packets over a byte stream (a tunnel over TLS or TCP): the IP header
// says how long each packet is, so packets go back to back with no framing.
import { invalidType, outOfRange } from '../internal/errors';
import { validateBytes, validateInteger } from '../internal/validators';
import { u16, type ViewReason } from './view-common';

/**
 * The length of the IP packet starting at `offset`, from its IPv4 total
 * length or IPv6 payload length; 0 when too few bytes are there to tell
 * (4 for IPv4, 6 for IPv6); -1 when the bytes there are not an IP header.
 *
 * ```ts
 * const n = ipPacketLength(received, 0);
 * if (n > 0 && received.length >= n) dev.writable.write(received.subarray(0, n));
 * ```
 */
export function ipPacketLength(bytes: Uint8Array, offset = 0): number {
  validateBytes(bytes, 'bytes');
  return lengthAt(bytes, offset, bytes.length);
}

function lengthAt(bytes: Uint8Array, offset: number, end: number): number {
  if (offset >= end) return 0;
  const version = bytes[offset] >> 4;
  if (version === 4) {
    if (offset + 4 > end) return 0;
    const total = u16(bytes, offset + 2);
    return total < 20 || total < (bytes[offset] & 0x0f) * 4 ? -1 : total;
  }
  if (version === 6) return offset + 6 > end ? 0 : 40 + u16(bytes, offset + 4);
  return -1;
}

/** What {@link splitIpStream} found. */
export interface StreamSplit {
  /** Whole packets described, at descriptors[0 .. 2 * packets). */
  packets: number;
  /** Bytes those packets take from the start: keep the rest for the next read. */
  bytes: number;
  /** 'ok', or 'bad-version' / 'bad-length' when the bytes at `offset + bytes` are not an IP header: the stream is out of step. */
  reason: ViewReason;
}

/**
 * Splits the bytes received on a stream into whole IP packets, writing
 * `[offset, length]` pairs into `descriptors` (the layout writePackets
 * takes) until the bytes, or the descriptors, run out. A packet cut by the
 * end of the bytes is left for the next call.
 *
 * ```ts
 * const d = new Uint32Array(512);
 * socket.on('data', (chunk: Buffer) => {
 *   pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
 *   const { packets, bytes } = splitIpStream(pending, d);
 *   dev.writePackets(pending, d, packets);
 *   pending = pending.subarray(bytes);
 * });
 * ```
 */
export function splitIpStream(
  bytes: Uint8Array,
  descriptors: Uint32Array,
  offset = 0,
  length = bytes.length - offset,
): StreamSplit {
  validateBytes(bytes, 'bytes');
  if (!(descriptors instanceof Uint32Array)) throw invalidType('descriptors', 'a Uint32Array', descriptors);
  validateInteger(offset, 'offset', 0, bytes.length);
  validateInteger(length, 'length', 0, bytes.length - offset);
  const end = offset + length;
  const max = descriptors.length >>> 1;
  let at = offset;
  let packets = 0;
  let reason: ViewReason = 'ok';
  while (packets < max && at < end) {
    const size = lengthAt(bytes, at, end);
    if (size < 0) {
      reason = bytes[at] >> 4 === 4 ? 'bad-length' : 'bad-version';
      break;
    }
    if (size === 0 || at + size > end) break;
    descriptors[2 * packets] = at;
    descriptors[2 * packets + 1] = size;
    packets++;
    at += size;
  }
  return { packets, bytes: at - offset, reason };
}

/**
 * Copies `count` packets described by `descriptors` (as readBatches hands
 * them: each in its own 16-byte-aligned place in the slab) back to back into
 * one Buffer, ready for a stream's write(). Into `target` when given (it must
 * be large enough), else a new Buffer; returns the bytes written as a view.
 *
 * ```ts
 * dev.readBatches((slab, d, count) => stream.write(packPackets(slab, d, count)));
 * ```
 */
export function packPackets(buffer: Uint8Array, descriptors: Uint32Array, count: number, target?: Uint8Array): Buffer {
  validateBytes(buffer, 'buffer');
  if (!(descriptors instanceof Uint32Array)) throw invalidType('descriptors', 'a Uint32Array', descriptors);
  validateInteger(count, 'count', 0, descriptors.length >>> 1);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const offset = descriptors[2 * i];
    const length = descriptors[2 * i + 1];
    if (offset + length > buffer.length)
      throw outOfRange(
        `descriptors[${2 * i}..${2 * i + 1}]`,
        `inside the buffer (${buffer.length} bytes)`,
        `[${offset}, ${length}]`,
      );
    total += length;
  }
  const out = target === undefined ? Buffer.allocUnsafe(total) : validateBytes(target, 'target');
  if (out.length < total) throw outOfRange('target.length', `>= ${total}`, out.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const offset = descriptors[2 * i];
    out.set(buffer.subarray(offset, offset + descriptors[2 * i + 1]), at);
    at += descriptors[2 * i + 1];
  }
  return Buffer.from(out.buffer, out.byteOffset, total);
}
