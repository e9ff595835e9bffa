// Allocation-free views of TCP and UDP headers. Each is re-pointed with
// reset(buffer, offset, length), or with resetFrom(ip) at an IpView's upper
// layer; like IpView, an invalid view reads as zero bytes.
import type { IpView } from './ip-view';
import { ZERO_BYTES, adjustChecksum, u16, u32, setU16, type ViewReason } from './view-common';

/** Bits of {@link TcpView.flags}. */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** The shared part: the buffer, where the header starts, how long the segment is, and why not valid. */
abstract class LayerView {
  protected b: Uint8Array = ZERO_BYTES;
  protected o = 0;
  protected len = 0;
  protected _reason: ViewReason = 'absent';

  /** 'ok', or why the last reset() returned false. */
  get reason(): ViewReason {
    return this._reason;
  }
  /** Whether the last reset() found a well-formed header. */
  get valid(): boolean {
    return this._reason === 'ok';
  }
  /** Where the header starts in the buffer. */
  get offset(): number {
    return this.o;
  }
  /** Bytes of header and payload. */
  get length(): number {
    return this.len;
  }

  /**
   * Points the view at nothing: reason 'absent'. Each view has its own copy: V8 keeps type feedback
   * per function, and one copy for every kind of view would be polymorphic where PacketViews calls it.
   */
  clear(): void {
    if (this._reason !== 'absent') this.invalid('absent');
  }

  protected accept(buffer: Uint8Array, offset: number, length: number): true {
    this.b = buffer;
    this.o = offset;
    this.len = length;
    this._reason = 'ok';
    return true;
  }

  protected invalid(reason: ViewReason): false {
    this.b = ZERO_BYTES;
    this.o = 0;
    this.len = 0;
    this._reason = reason;
    return false;
  }

  /** Points the view at `ip`'s upper layer; 'absent' unless it is `protocol` in an unfragmented packet or a first fragment. */
  protected fromIp(ip: IpView, protocol: number): boolean {
    if (!ip.valid || ip.protocol !== protocol || ip.fragmentOffset !== 0) return this.invalid('absent');
    return this.reset(ip.buffer, ip.payloadOffset, ip.payloadLength);
  }

  abstract reset(buffer: Uint8Array, offset?: number, length?: number): boolean;
}

/** TCP and UDP: ports first, and a checksum that covers them. */
abstract class PortsView extends LayerView {
  /** Where the checksum is, from the header's start. */
  protected abstract readonly checksumAt: number;
  /** UDP: a checksum of 0 means none and stays so. */
  protected abstract readonly zeroMeansNone: boolean;

  /** The source port. */
  get sourcePort(): number {
    return u16(this.b, this.o);
  }
  /** Sets the port, updating the checksum (RFC 1624; a UDP checksum of 0, "none", stays 0). */
  set sourcePort(port: number) {
    this._setWord(0, port);
  }
  /** The destination port. */
  get destinationPort(): number {
    return u16(this.b, this.o + 2);
  }
  /** Sets the port, updating the checksum (RFC 1624; a UDP checksum of 0, "none", stays 0). */
  set destinationPort(port: number) {
    this._setWord(2, port);
  }
  /** The checksum field as it is in the packet. */
  get checksum(): number {
    return u16(this.b, this.o + this.checksumAt);
  }

  private _setWord(at: number, value: number): void {
    if (!this.valid) return;
    adjustChecksum(this.b, this.o + this.checksumAt, u16(this.b, this.o + at), value & 0xffff, this.zeroMeansNone);
    setU16(this.b, this.o + at, value);
  }
}

/**
 * A TCP segment. Options are read on first use of an option getter, once per
 * reset(); absent options read as 0 (`windowScale` as -1).
 *
 * ```ts
 * if (ip.reset(packet) && tcp.resetFrom(ip) && (tcp.flags & TcpFlags.SYN) !== 0) console.log('SYN, MSS', tcp.mss);
 * ```
 */
export class TcpView extends PortsView {
  protected readonly checksumAt = 16;
  protected readonly zeroMeansNone = false;
  private _optionsRead = false;
  private _optionsValid = true;
  private _mss = 0;
  private _windowScale = -1;
  private _sackPermitted = false;
  private _timestamps = -1;
  private _sack = -1;
  private _sackCount = 0;

  /** Points the view at a TCP header of `length` bytes (header and payload) at `offset`. */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    this._optionsRead = false;
    if (length >= 20 && offset >= 0 && offset + length <= buffer.length) {
      const size = (buffer[offset + 12] >> 4) * 4;
      if (size >= 20 && size <= length) return this.accept(buffer, offset, length);
    }
    return this._reject(buffer, offset, length);
  }

  // Why reset() refused the header: apart from it, so that what a well-formed segment runs stays small.
  private _reject(buffer: Uint8Array, offset: number, length: number): false {
    if (length < 20 || offset < 0 || offset + length > buffer.length) return this.invalid('truncated');
    return this.invalid((buffer[offset + 12] >> 4) * 4 < 20 ? 'bad-header-length' : 'truncated');
  }

  protected override invalid(reason: ViewReason): false {
    this._optionsRead = false;
    return super.invalid(reason);
  }

  /** Points the view at `ip`'s TCP segment; false ('absent') for another protocol or a non-first fragment. */
  resetFrom(ip: IpView): boolean {
    return this.fromIp(ip, 6);
  }
  override clear(): void {
    if (this._reason !== 'absent') this.invalid('absent');
  }

  /** The sequence number. */
  get sequenceNumber(): number {
    return u32(this.b, this.o + 4);
  }
  /** The acknowledgment number (meaningful with the ACK flag). */
  get acknowledgmentNumber(): number {
    return u32(this.b, this.o + 8);
  }
  /** The data offset in bytes (header with options). */
  get headerLength(): number {
    return (this.b[this.o + 12] >> 4) * 4;
  }
  /** The eight flag bits: {@link TcpFlags}. */
  get flags(): number {
    return this.b[this.o + 13];
  }
  /** The window field, not scaled. */
  get window(): number {
    return u16(this.b, this.o + 14);
  }
  /** The urgent pointer (meaningful with the URG flag). */
  get urgentPointer(): number {
    return u16(this.b, this.o + 18);
  }
  /** Where the payload starts, and its length. */
  get payloadOffset(): number {
    return this.valid ? this.o + this.headerLength : -1;
  }
  /** Bytes of payload. */
  get payloadLength(): number {
    return this.valid ? this.len - this.headerLength : 0;
  }
  /** False if an option runs past the header (the options before it are still read). */
  get optionsValid(): boolean {
    this._readOptions();
    return this._optionsValid;
  }
  /** Maximum segment size option; 0 when absent. */
  get mss(): number {
    this._readOptions();
    return this._mss;
  }
  /** Window scale shift count; -1 when absent. */
  get windowScale(): number {
    this._readOptions();
    return this._windowScale;
  }
  /** The SACK permitted option is present. */
  get sackPermitted(): boolean {
    this._readOptions();
    return this._sackPermitted;
  }
  /** The timestamps option is present. */
  get hasTimestamps(): boolean {
    this._readOptions();
    return this._timestamps >= 0;
  }
  /** TSval and TSecr of the timestamps option; 0 when absent. */
  get timestampValue(): number {
    this._readOptions();
    return this._timestamps < 0 ? 0 : u32(this.b, this._timestamps);
  }
  /** TSecr of the timestamps option; 0 when absent. */
  get timestampEcho(): number {
    this._readOptions();
    return this._timestamps < 0 ? 0 : u32(this.b, this._timestamps + 4);
  }
  /** SACK blocks: how many, and the left and right edge of block `index` (0 when out of range). */
  get sackBlockCount(): number {
    this._readOptions();
    return this._sackCount;
  }
  /** The left edge of SACK block `index`; 0 when out of range. */
  sackLeft(index: number): number {
    return index >= 0 && index < this.sackBlockCount ? u32(this.b, this._sack + index * 8) : 0;
  }
  /** The right edge of SACK block `index`; 0 when out of range. */
  sackRight(index: number): number {
    return index >= 0 && index < this.sackBlockCount ? u32(this.b, this._sack + index * 8 + 4) : 0;
  }

  private _readOptions(): void {
    if (this._optionsRead) return;
    this._optionsRead = true;
    this._optionsValid = true;
    this._mss = this._sackCount = 0;
    this._windowScale = this._timestamps = this._sack = -1;
    this._sackPermitted = false;
    if (!this.valid) return;
    const b = this.b;
    const end = this.o + this.headerLength;
    let at = this.o + 20;
    while (at < end) {
      const kind = b[at];
      if (kind === 0) break;
      if (kind === 1) {
        at++;
        continue;
      }
      const size = at + 1 < end ? b[at + 1] : 0;
      if (size < 2 || at + size > end) {
        this._optionsValid = false;
        return;
      }
      if (kind === 2 && size === 4) this._mss = u16(b, at + 2);
      else if (kind === 3 && size === 3) this._windowScale = b[at + 2];
      else if (kind === 4 && size === 2) this._sackPermitted = true;
      else if (kind === 8 && size === 10) this._timestamps = at + 2;
      else if (kind === 5 && size >= 10 && (size - 2) % 8 === 0) {
        this._sack = at + 2;
        this._sackCount = (size - 2) / 8;
      }
      at += size;
    }
  }
}

/**
 * A UDP datagram: the length is the UDP length field's when it fits.
 *
 * ```ts
 * if (ip.reset(packet) && udp.resetFrom(ip) && udp.destinationPort === 53) dns(packet.subarray(udp.payloadOffset));
 * ```
 */
export class UdpView extends PortsView {
  protected readonly checksumAt = 6;
  protected readonly zeroMeansNone = true;
  /** Points the view at a UDP header at `offset` with `length` bytes after it in the packet. */
  reset(buffer: Uint8Array, offset = 0, length = buffer.length - offset): boolean {
    if (length >= 8 && offset >= 0 && offset + length <= buffer.length) {
      const size = (buffer[offset + 4] << 8) | buffer[offset + 5];
      if (size >= 8 && size <= length) return this.accept(buffer, offset, size);
    }
    return this._reject(buffer, offset, length);
  }

  // Why reset() refused the header, apart from it as TCP's.
  private _reject(buffer: Uint8Array, offset: number, length: number): false {
    if (length < 8 || offset < 0 || offset + length > buffer.length) return this.invalid('truncated');
    return this.invalid(u16(buffer, offset + 4) < 8 ? 'bad-length' : 'truncated');
  }

  /** Points the view at `ip`'s UDP datagram; false ('absent') for another protocol or a non-first fragment. */
  resetFrom(ip: IpView): boolean {
    return this.fromIp(ip, 17);
  }
  override clear(): void {
    if (this._reason !== 'absent') this.invalid('absent');
  }

  /** Where the payload starts, after the 8-byte header. */
  get payloadOffset(): number {
    return this.valid ? this.o + 8 : -1;
  }
  /** Bytes of payload. */
  get payloadLength(): number {
    return this.valid ? this.len - 8 : 0;
  }
}

export { LayerView };
