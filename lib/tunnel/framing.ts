// How packets travel over a byte stream: raw IP packets back to back (each
// one's header gives its length), or each behind a 16- or 32-bit big-endian
// length. Pure functions over bytes; the tunnel keeps the state between chunks.

/** The framings {@link tunnel} speaks. */
export type Framing = 'ip' | 'length16' | 'length32';

/** The bytes a framing puts in front of each packet. */
export function prefixSize(framing: Framing): number {
  return framing === 'length16' ? 2 : framing === 'length32' ? 4 : 0;
}

/**
 * The length of the IP packet whose header starts at `offset`, from its
 * IPv4 total length or IPv6 payload length: 0 when too few bytes are there to
 * tell, -1 when they are not a plausible header. Plausible: version 4 with a
 * header of 20 to 60 bytes, a total length that holds it and a header
 * checksum that verifies; or version 6 with a payload length (0 is a jumbogram,
 * which no stream framing carries, so -1). `max` bounds the length (else -1).
 */
export function ipPacketLength(bytes: Uint8Array, offset: number, max = 65575): number {
  const available = bytes.length - offset;
  if (available < 1) return 0;
  const version = bytes[offset] >> 4;
  if (version === 4) {
    const headerLength = (bytes[offset] & 0x0f) * 4;
    if (headerLength < 20) return -1;
    if (available < headerLength) return 0;
    const length = (bytes[offset + 2] << 8) | bytes[offset + 3];
    if (length < headerLength || length > max) return -1;
    // The checksum is what makes a resync after garbage trustworthy: a random
    // byte passes the version and length checks far too often on its own.
    let sum = 0;
    for (let i = offset; i < offset + headerLength; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    return sum === 0xffff ? length : -1;
  }
  if (version === 6) {
    if (available < 6) return 0;
    const length = 40 + ((bytes[offset + 4] << 8) | bytes[offset + 5]);
    return length === 40 || length > max ? -1 : length;
  }
  return -1;
}

/** What {@link splitPackets} found in a run of bytes. */
export interface SplitResult {
  /** Packets found: descriptors[2i] is the offset of packet i, descriptors[2i + 1] its length. */
  count: number;
  /** Where the first byte not yet used starts (an incomplete packet or prefix, kept for the next chunk). */
  consumed: number;
  /** Bytes skipped as garbage ('ip' framing only). */
  garbageBytes: number;
  /** Runs of garbage skipped ('ip' framing only); a run that goes on from the last call is not counted again. */
  resyncs: number;
  /** The bytes ended in garbage: pass it as `inGarbage` to the next call, so a run split over chunks counts once. */
  inGarbage: boolean;
  /** A length prefix of 0 or over `max` (length framings): the stream cannot be followed past `consumed`. -1: none. */
  badLength: number;
}

/**
 * Splits `bytes[start, end)` into packets, writing at most
 * `descriptors.length / 2` [offset, length] pairs. 'ip' framing resyncs on
 * garbage by skipping one byte at a time until {@link ipPacketLength} finds a
 * plausible header; a length framing has nothing to resync on, so a bad
 * prefix stops the split and is reported in `badLength`.
 */
export function splitPackets(
  bytes: Uint8Array,
  start: number,
  end: number,
  framing: Framing,
  max: number,
  descriptors: Uint32Array,
  inGarbage = false,
): SplitResult {
  const room = descriptors.length >>> 1;
  const prefix = prefixSize(framing);
  const view = bytes.subarray(0, end);
  let at = start;
  let count = 0;
  let garbageBytes = 0;
  let resyncs = 0;
  let badLength = -1;
  while (count < room && at < end) {
    let offset: number;
    let length: number;
    if (prefix === 0) {
      length = ipPacketLength(view, at, max);
      if (length < 0) {
        if (!inGarbage) resyncs++;
        inGarbage = true;
        garbageBytes++;
        at++;
        continue;
      }
      offset = at;
    } else {
      if (end - at < prefix) break;
      length = prefix === 2 ? (bytes[at] << 8) | bytes[at + 1] : readUint32(bytes, at);
      if (length === 0 || length > max) {
        badLength = length;
        break;
      }
      offset = at + prefix;
    }
    if (length === 0 || offset + length > end) break;
    inGarbage = false;
    descriptors[2 * count] = offset;
    descriptors[2 * count + 1] = length;
    count++;
    at = offset + length;
  }
  return { count, consumed: at, garbageBytes, resyncs, inGarbage, badLength };
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/**
 * Packs `count` packets of `buffer` (as [offset, length] pairs; a length of 0
 * is skipped) into one new Buffer in `framing`, for one write to a stream.
 */
export function packPackets(buffer: Uint8Array, descriptors: Uint32Array, count: number, framing: Framing): Buffer {
  const prefix = prefixSize(framing);
  let total = 0;
  for (let i = 0; i < count; i++) if (descriptors[2 * i + 1] !== 0) total += prefix + descriptors[2 * i + 1];
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const offset = descriptors[2 * i];
    const length = descriptors[2 * i + 1];
    if (length === 0) continue;
    if (prefix === 2) out.writeUInt16BE(length, at);
    else if (prefix === 4) out.writeUInt32BE(length, at);
    at += prefix;
    out.set(buffer.subarray(offset, offset + length), at);
    at += length;
  }
  return out;
}
