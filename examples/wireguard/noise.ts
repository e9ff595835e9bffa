// The primitives of Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses
// them: HASH, HMAC, KDF1..3, MAC (keyed BLAKE2s, 16 bytes), DH (X25519),
// AEAD (ChaCha20-Poly1305 with a 64-bit little-endian counter as nonce),
// XAEAD (XChaCha20-Poly1305, cookies only) and TAI64N timestamps. Node's
// crypto (OpenSSL) has all but keyed BLAKE2s and XChaCha20: those come from
// @noble, a dependency of this example only.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const KEY_LENGTH = 32;
export const TAG_LENGTH = 16;
export const MAC_LENGTH = 16;

export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** KDF_n(key, input): n 32-byte outputs of the HKDF-like chain the whitepaper defines. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer[] {
  const prk = hmac(key, input);
  const out: Buffer[] = [];
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 1; i <= n; i++) {
    previous = hmac(prk, previous, Uint8Array.of(i));
    out.push(previous);
  }
  return out;
}

/** MAC(key, input): BLAKE2s keyed with `key`, 16 bytes out. */
export function mac(key: Uint8Array, input: Uint8Array): Buffer {
  return Buffer.from(blake2s(input, { key, dkLen: MAC_LENGTH }));
}

// DER wrappers around the raw 32-byte keys (RFC 8410): the shortest way into a KeyObject.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

export function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
}

export function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);
}

export function rawPrivateKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519.length);
}

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: Buffer;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

/** DH(private, public); throws on a low-order public key (OpenSSL refuses an all-zero result). */
export function dh(privateKey: KeyObject, publicKey: Uint8Array): Buffer {
  return diffieHellman({ privateKey, publicKey: publicKeyObject(publicKey) });
}

// One nonce buffer for every AEAD call: createCipheriv copies it, so a packet needs no buffer of its own.
const NONCE = Buffer.alloc(12);

/** 32 zero bits, then the counter as 64-bit little-endian (a Number: exact below 2^53). */
function nonce(counter: number): Buffer {
  NONCE.writeUInt32LE(counter >>> 0, 4);
  NONCE.writeUInt32LE(Math.floor(counter / 0x1_0000_0000), 8);
  return NONCE;
}

/** AEAD(key, counter, plaintext, aad): ciphertext followed by the 16-byte tag. */
export function seal(key: Uint8Array, counter: number, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG_LENGTH });
  if (aad !== undefined) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

const ZEROS = new Uint8Array(16);

/**
 * AEAD(key, counter, plaintext + `padding` zero bytes, no aad) written into
 * `out` at `at`: the ciphertext, then the tag. `out` must have the room.
 */
export function sealInto(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  padding: number,
  out: Buffer,
  at: number,
): void {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG_LENGTH });
  let end = at + cipher.update(plaintext).copy(out, at);
  if (padding > 0) end += cipher.update(ZEROS.subarray(0, padding)).copy(out, end);
  cipher.final();
  cipher.getAuthTag().copy(out, end);
}

/** The plaintext, or null when the tag does not authenticate. */
export function open(key: Uint8Array, counter: number, sealed: Uint8Array, aad?: Uint8Array): Buffer | null {
  if (sealed.length < TAG_LENGTH) return null;
  const body = sealed.subarray(0, sealed.length - TAG_LENGTH);
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG_LENGTH });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  if (aad !== undefined) decipher.setAAD(aad, { plaintextLength: body.length });
  const plaintext = decipher.update(body);
  try {
    decipher.final();
  } catch {
    return null;
  }
  return plaintext;
}

export function xseal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  return Buffer.from(xchacha20poly1305(key, nonce24, aad).encrypt(plaintext));
}

export function xopen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | null {
  try {
    return Buffer.from(xchacha20poly1305(key, nonce24, aad).decrypt(sealed));
  } catch {
    return null;
  }
}

let lastTimestamp = 0n;

/**
 * TAI64N of now: 8 bytes of seconds since 1970 plus 2^62 (+10 for TAI), 4 of
 * nanoseconds, big-endian. Strictly increasing within a process, since the
 * responder rejects an initiation whose timestamp is not newer than the last.
 */
export function tai64n(): Buffer {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  lastTimestamp = nowNs > lastTimestamp ? nowNs : lastTimestamp + 1n;
  const out = Buffer.alloc(12);
  out.writeBigUInt64BE((1n << 62n) + 10n + lastTimestamp / 1_000_000_000n, 0);
  out.writeUInt32BE(Number(lastTimestamp % 1_000_000_000n), 8);
  return out;
}

/** Constant-time comparison of two byte strings. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
