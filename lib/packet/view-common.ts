// What every packet view shares: the reason codes, the zero bytes an invalid
// view reads, big-endian reads, and the RFC 1624 incremental checksum update.

/**
 * Why a view's reset() returned false. `'ok'` while the view is valid. Every
 * other code names the first check the bytes failed, outermost layer first.
 */
export type ViewReason =
  | 'ok'
  /** Fewer bytes than the header (or the length it announces) needs. */
  | 'truncated'
  /** Not IPv4 or IPv6 (the version nibble), or not ARP for IPv4 over Ethernet. */
  | 'bad-version'
  /** An IPv4 IHL below 5 or a TCP data offset below 5. */
  | 'bad-header-length'
  /** An IPv4 total length below its header, or a UDP length below 8. */
  | 'bad-length'
  /** An IPv6 extension header or an option (IPv4, TCP, NDP) runs past its space or has length 0 where that is illegal. */
  | 'bad-option'
  /** The view was asked for a layer the packet does not carry (a TCP view on a UDP packet, a non-first fragment). */
  | 'absent';

/**
 * What an invalid view reads: zero bytes. Every getter then returns 0, false
 * or -1 (an absent offset) without a bounds check per field.
 */
export const ZERO_BYTES = new Uint8Array(64);

export function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

export function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

export function setU16(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 8;
  b[at + 1] = value;
}

export function setU32(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 24;
  b[at + 1] = value >>> 16;
  b[at + 2] = value >>> 8;
  b[at + 3] = value;
}

/**
 * Updates the checksum at `at` for one 16-bit word of the covered data that
 * changed from `before` to `after` (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
 * `zeroMeansNone` keeps a UDP checksum of 0 (none) as it is and never writes 0.
 */
export function adjustChecksum(b: Uint8Array, at: number, before: number, after: number, zeroMeansNone = false): void {
  const old = u16(b, at);
  if (zeroMeansNone && old === 0) return;
  let sum = (~old & 0xffff) + (~before & 0xffff) + (after & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  let next = ~sum & 0xffff;
  if (zeroMeansNone && next === 0) next = 0xffff;
  setU16(b, at, next);
}

/** {@link adjustChecksum} for `length` bytes at `from` about to be replaced by `bytes` (both even lengths). */
export function adjustChecksumFor(
  b: Uint8Array,
  at: number,
  from: number,
  bytes: Uint8Array,
  bytesAt: number,
  length: number,
  zeroMeansNone = false,
): void {
  let before = 0;
  let after = 0;
  for (let i = 0; i < length; i += 2) {
    before += u16(b, from + i);
    after += u16(bytes, bytesAt + i);
  }
  before = fold(before);
  after = fold(after);
  if (before !== after) adjustChecksum(b, at, before, after, zeroMeansNone);
}

export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
