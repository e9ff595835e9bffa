// Transport data messages (type 4, whitepaper section 5.4.6): a session's
// keys and counters, the sliding replay window, and sealing an IP packet
// padded to 16 bytes. A zero-length plaintext is a keepalive.
import { MESSAGE_DATA, type SessionKeys } from './handshake';
import { TAG_LENGTH, open, sealInto } from './noise';

export const DATA_HEADER_LENGTH = 16;
/** The smallest data message: a header and the tag of an empty (keepalive) payload. */
export const MIN_DATA_LENGTH = DATA_HEADER_LENGTH + TAG_LENGTH;
const PADDING = 16;
/** Counters this far below the greatest seen are still accepted once (RFC 6479's window, minus a word). */
const WINDOW_WORDS = 64;
const WINDOW_BITS = WINDOW_WORDS * 32;
export const REPLAY_WINDOW = WINDOW_BITS - 32;
/** Past this a counter could lose precision in a Number; no honest peer gets near it (the rekey is at 2^60). */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/**
 * Remembers which counters arrived, so a replayed data message is refused.
 * A bitmap of the last WINDOW_BITS counters, indexed modulo its size; when
 * the greatest counter moves on, the words it passes are cleared.
 */
export class ReplayWindow {
  #greatest = -1;
  readonly #bits = new Uint32Array(WINDOW_WORDS);

  /** Whether `counter` is new and inside the window; it is not recorded (see accept()). */
  fresh(counter: number): boolean {
    if (counter > MAX_COUNTER) return false;
    if (counter > this.#greatest) return true;
    if (this.#greatest - counter >= REPLAY_WINDOW) return false;
    return (this.#bits[Math.floor(counter / 32) % WINDOW_WORDS] & (1 << (counter % 32))) === 0;
  }

  /** Records `counter` as seen; call only after the message authenticated, and after fresh(). */
  accept(counter: number): void {
    if (counter > this.#greatest) {
      const from = Math.floor(this.#greatest / 32);
      const steps = Math.min(Math.floor(counter / 32) - from, WINDOW_WORDS);
      for (let i = 1; i <= steps; i++) this.#bits[(from + i) % WINDOW_WORDS] = 0;
      this.#greatest = counter;
    }
    this.#bits[Math.floor(counter / 32) % WINDOW_WORDS] |= 1 << (counter % 32);
  }
}

/** One session: the keys a handshake derived, its indices, counters and age. */
export class Keypair {
  sendCounter = 0;
  readonly replay = new ReplayWindow();

  constructor(
    readonly keys: SessionKeys,
    readonly localIndex: number,
    readonly remoteIndex: number,
    /** Whether we sent the initiation: only the initiator rekeys on age. */
    readonly initiator: boolean,
    readonly createdAt: number,
  ) {}
}

/** A type 4 message carrying `packet` (empty for a keepalive), padded to 16 bytes but not past `mtu`. */
export function sealData(keypair: Keypair, packet: Uint8Array, mtu: number): Buffer {
  const padded = Math.min(Math.ceil(packet.length / PADDING) * PADDING, Math.max(mtu, packet.length));
  const counter = keypair.sendCounter++;
  // One buffer for the whole message: the header, then the cipher's output and tag copied in behind it.
  const message = Buffer.allocUnsafe(DATA_HEADER_LENGTH + padded + TAG_LENGTH);
  message.writeUInt32LE(MESSAGE_DATA, 0);
  message.writeUInt32LE(keypair.remoteIndex, 4);
  writeCounter(message, counter);
  sealInto(keypair.keys.send, counter, packet, padded - packet.length, message, DATA_HEADER_LENGTH);
  return message;
}

function writeCounter(header: Buffer, counter: number): void {
  header.writeUInt32LE(counter >>> 0, 8);
  header.writeUInt32LE(Math.floor(counter / 0x1_0000_0000), 12);
}

export function readCounter(message: Buffer): number {
  return message.readUInt32LE(8) + message.readUInt32LE(12) * 0x1_0000_0000;
}

/** Why a data message was dropped, or its plaintext (padding included; empty for a keepalive). */
export type OpenedData = { error: 'replayed' | 'unauthenticated' } | { plaintext: Buffer; counter: number };

export function openData(keypair: Keypair, message: Buffer): OpenedData {
  const counter = readCounter(message);
  if (!keypair.replay.fresh(counter)) return { error: 'replayed' };
  const plaintext = open(keypair.keys.receive, counter, message.subarray(DATA_HEADER_LENGTH));
  if (plaintext === null) return { error: 'unauthenticated' };
  keypair.replay.accept(counter);
  return { plaintext, counter };
}

/** The IP packet inside a padded plaintext (its length from its own header), or null if it is not one. */
export function unpad(plaintext: Buffer): Buffer | null {
  const version = plaintext[0] >> 4;
  let length = 0;
  if (version === 4 && plaintext.length >= 20) length = plaintext.readUInt16BE(2);
  else if (version === 6 && plaintext.length >= 40) length = 40 + plaintext.readUInt16BE(4);
  if (length === 0 || length > plaintext.length) return null;
  return plaintext.subarray(0, length);
}
