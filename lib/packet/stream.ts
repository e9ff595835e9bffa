// IP packets over a byte stream (a tunnel over TLS, TCP or a Unix socket):
// back to back, each one's IP header giving its length ('ip'), or each behind
// a 16- or 32-bit big-endian length ('length16', 'length32').
import { invalidType, outOfRange } from '../internal/errors';
import { validateBoolean, validateBytes, validateInteger, validateObject, validateOneOf } from '../internal/validators';
import { fold, setU16, setU32, u16, u32, type ViewReason } from './view-common';

/** How packets follow each other on a stream: raw IP ('ip') or behind a big-endian length prefix. */
export type Framing = 'ip' | 'length16' | 'length32';

const FRAMINGS: readonly Framing[] = ['ip', 'length16', 'length32'];

/** @internal The largest packet each framing carries: an IPv6 header with the largest payload, or the prefix's largest value. */
export const FRAMING_MAX: Readonly<Record<Framing, number>> = { ip: 65575, length16: 0xffff, length32: 0xffffffff };

function prefixSize(framing: Framing): number {
  return framing === 'length16' ? 2 : framing === 'length32' ? 4 : 0;
}

/** Why a header is not plausible, indexed by the negated result of lengthAt. */
const NOT_A_HEADER = ['ok', 'bad-version', 'bad-header-length', 'bad-length', 'bad-checksum'] as const;

/**
 * The length of the IP packet whose header starts at `offset`; 0 when too few bytes are there
 * to tell; -1 when they are not a plausible header (IPv4 with a verifying header checksum, or
 * IPv6 with a non-zero payload length, no longer than `maxPacketSize`).
 *
 * ```ts
 * const n = ipPacketLength(received, 0);
 * if (n > 0 && received.length >= n) dev.writable.write(received.subarray(0, n));
 * ```
 */
export function ipPacketLength(bytes: Uint8Array, offset = 0, maxPacketSize = FRAMING_MAX.ip): number {
  validateBytes(bytes, 'bytes');
  validateInteger(offset, 'offset', 0, bytes.length);
  validateInteger(maxPacketSize, 'maxPacketSize', 1, FRAMING_MAX.ip);
  const length = lengthAt(bytes, offset, bytes.length, maxPacketSize);
  return length < 0 ? -1 : length;
}

/** ipPacketLength within `end`, telling why with a negative index into NOT_A_HEADER. */
function lengthAt(bytes: Uint8Array, offset: number, end: number, max: number): number {
  if (offset >= end) return 0;
  const version = bytes[offset] >> 4;
  if (version === 4) {
    const headerLength = (bytes[offset] & 0x0f) * 4;
    if (headerLength < 20) return -2;
    if (offset + 4 > end) return 0;
    const length = u16(bytes, offset + 2);
    if (length < headerLength || length > max) return -3;
    if (offset + headerLength > end) return 0;
    // The checksum is what makes a resync after garbage trustworthy: a random
    // byte passes the version and length checks far too often on its own.
    let sum = 0;
    for (let i = offset; i < offset + headerLength; i += 2) sum += u16(bytes, i);
    return fold(sum) === 0xffff ? length : -4;
  }
  if (version === 6) {
    if (offset + 6 > end) return 0;
    const length = 40 + u16(bytes, offset + 4);
    return length === 40 || length > max ? -3 : length;
  }
  return -1;
}

/**
 * @internal The bytes the packet at `offset` takes in the stream, its prefix
 * included; 0 when too few bytes are there to tell; -1 when there is no
 * plausible header ('ip') or the prefix is 0 or over `max`.
 */
export function framedLength(bytes: Uint8Array, offset: number, end: number, framing: Framing, max: number): number {
  const prefix = prefixSize(framing);
  if (prefix === 0) return Math.max(lengthAt(bytes, offset, end, max), -1);
  if (end - offset < prefix) return 0;
  const size = prefix === 2 ? u16(bytes, offset) : u32(bytes, offset);
  return size === 0 || size > max ? -1 : prefix + size;
}

/** How {@link splitIpStream} reads the stream. */
export interface SplitOptions {
  /** Default 'ip'. */
  framing?: Framing;
  /** A longer packet is not plausible ('ip') or stops the split ('bad-length'). Default: the most the framing carries. */
  maxPacketSize?: number;
  /** 'ip' framing: skip what is not a plausible header one byte at a time instead of stopping. Default false. */
  resync?: boolean;
  /** The last call's `inGarbage`: a run of garbage split over reads then counts once in `resyncs`. */
  inGarbage?: boolean;
}

/** What {@link splitIpStream} found. */
export interface StreamSplit {
  /** Whole packets described, at descriptors[0 .. 2 * packets). */
  packets: number;
  /** Bytes used from `offset` on (packets, prefixes, garbage skipped): keep the rest for the next read. */
  bytes: number;
  /**
   * 'ok', or why the bytes at `offset + bytes` stop the split: not a plausible
   * IP header (without `resync`) or a length prefix of 0 or over the maximum
   * ('bad-length'). The stream is then out of step.
   */
  reason: ViewReason | 'bad-checksum';
  /** The length prefix that stopped the split ('bad-length' in a length framing), else -1. */
  badLength: number;
  /** Bytes skipped as garbage (`resync`). */
  garbageBytes: number;
  /** Runs of garbage skipped (`resync`); a run that goes on from the last call is not counted again. */
  resyncs: number;
  /** The bytes ended in garbage: pass it as `inGarbage` with the next read. */
  inGarbage: boolean;
}

/**
 * Splits bytes received on a stream into whole packets as `[offset, length]` pairs in
 * `descriptors` (the layout writePackets takes); a packet cut by the end waits for the next
 * call. With `resync`, 'ip' framing skips garbage until {@link ipPacketLength} finds a header.
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
  options: SplitOptions = {},
): StreamSplit {
  validateBytes(bytes, 'bytes');
  if (!(descriptors instanceof Uint32Array)) throw invalidType('descriptors', 'a Uint32Array', descriptors);
  validateInteger(offset, 'offset', 0, bytes.length);
  validateInteger(length, 'length', 0, bytes.length - offset);
  validateObject(options, 'options');
  const framing = validateOneOf(options.framing ?? 'ip', 'options.framing', FRAMINGS);
  const max =
    options.maxPacketSize === undefined
      ? FRAMING_MAX[framing]
      : validateInteger(options.maxPacketSize, 'options.maxPacketSize', 1, FRAMING_MAX[framing]);
  const resync = validateBoolean(options.resync, 'options.resync', false);
  let inGarbage = validateBoolean(options.inGarbage, 'options.inGarbage', false);
  const prefix = prefixSize(framing);
  const end = offset + length;
  const room = descriptors.length >>> 1;
  let at = offset;
  let packets = 0;
  let reason: StreamSplit['reason'] = 'ok';
  let badLength = -1;
  let garbageBytes = 0;
  let resyncs = 0;
  while (packets < room && at < end) {
    const start = at + prefix;
    let size: number;
    if (prefix === 0) {
      size = lengthAt(bytes, at, end, max);
      if (size < 0) {
        if (!resync) {
          reason = NOT_A_HEADER[-size];
          break;
        }
        if (!inGarbage) resyncs++;
        inGarbage = true;
        garbageBytes++;
        at++;
        continue;
      }
    } else {
      if (end - at < prefix) break;
      size = prefix === 2 ? u16(bytes, at) : u32(bytes, at);
      if (size === 0 || size > max) {
        reason = 'bad-length';
        badLength = size;
        break;
      }
    }
    if (size === 0 || start + size > end) break;
    inGarbage = false;
    descriptors[2 * packets] = start;
    descriptors[2 * packets + 1] = size;
    packets++;
    at = start + size;
  }
  return { packets, bytes: at - offset, reason, badLength, garbageBytes, resyncs, inGarbage };
}

/** How {@link packPackets} writes the packets. */
export interface PackOptions {
  /** Default 'ip' (back to back, no prefix). */
  framing?: Framing;
}

/**
 * Copies `count` packets described by `descriptors` (as readBatches hands them) into one Buffer
 * in `framing`, ready for a stream's write(), skipping lengths of 0. Into `target` when given
 * (large enough), else a new Buffer; returns the bytes written as a view.
 *
 * ```ts
 * dev.readBatches((slab, d, count) => stream.write(packPackets(slab, d, count)));
 * ```
 */
export function packPackets(
  buffer: Uint8Array,
  descriptors: Uint32Array,
  count: number,
  target?: Uint8Array,
  options: PackOptions = {},
): Buffer {
  validateBytes(buffer, 'buffer');
  if (!(descriptors instanceof Uint32Array)) throw invalidType('descriptors', 'a Uint32Array', descriptors);
  validateInteger(count, 'count', 0, descriptors.length >>> 1);
  validateObject(options, 'options');
  const framing = validateOneOf(options.framing ?? 'ip', 'options.framing', FRAMINGS);
  const prefix = prefixSize(framing);
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
    if (prefix === 2 && length > 0xffff)
      throw outOfRange(`descriptors[${2 * i + 1}]`, "<= 65535 (the most 'length16' carries)", length);
    if (length !== 0) total += prefix + length;
  }
  const out = target === undefined ? Buffer.allocUnsafe(total) : validateBytes(target, 'target');
  if (out.length < total) throw outOfRange('target.length', `>= ${total}`, out.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const offset = descriptors[2 * i];
    const length = descriptors[2 * i + 1];
    if (length === 0) continue;
    if (prefix === 2) setU16(out, at, length);
    else if (prefix === 4) setU32(out, at, length);
    at += prefix;
    out.set(buffer.subarray(offset, offset + length), at);
    at += length;
  }
  return Buffer.from(out.buffer, out.byteOffset, total);
}
