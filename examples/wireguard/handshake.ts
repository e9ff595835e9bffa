// The Noise IKpsk2 handshake of WireGuard (whitepaper section 5.4): the
// initiation (type 1) and the response (type 2), each with mac1 and mac2,
// and the cookie reply (type 3) a responder under load answers with. Pure
// functions of bytes and keys: the peer state machine lives in peer.ts.
import { randomBytes, type KeyObject } from 'node:crypto';
import { MAC_LENGTH, dh, equal, generateKeyPair, hash, kdf, mac, open, seal, tai64n, xopen, xseal, type KeyPair } from './noise';

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_DATA = 4;

export const INITIATION_LENGTH = 148;
export const RESPONSE_LENGTH = 92;
export const COOKIE_REPLY_LENGTH = 64;

const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
const LABEL_MAC1 = 'mac1----';
const LABEL_COOKIE = 'cookie--';
const EMPTY = Buffer.alloc(0);

/** C and H before the responder's static key is mixed in: the same for every handshake. */
const INITIAL_CHAIN = hash(Buffer.from(CONSTRUCTION));
const INITIAL_HASH = hash(INITIAL_CHAIN, Buffer.from(IDENTIFIER));

/** One side's static identity, with the keys derived from it once. */
export interface Identity {
  privateKey: KeyObject;
  publicKey: Buffer;
  /** HASH(LABEL_MAC1 || our public key): what a sender's mac1 is keyed with. */
  mac1Key: Buffer;
  /** HASH(LABEL_COOKIE || our public key): what our cookie replies are sealed with. */
  cookieKey: Buffer;
}

/** What a side knows of the other: its static key and what is derived from it. */
export interface Remote {
  publicKey: Buffer;
  presharedKey: Buffer;
  /** DH(our static, its static), computed once. */
  staticShared: Buffer;
  mac1Key: Buffer;
  cookieKey: Buffer;
  /** The newest TAI64N timestamp of an initiation it sent us: older ones are replays. */
  newestTimestamp: Buffer;
  /** The cookie it sent us and when (ms), for mac2; valid for two minutes. */
  cookie?: { value: Buffer; receivedAt: number };
  /** The mac1 of the last handshake message we sent it: a cookie reply's AAD. */
  lastMac1?: Buffer;
}

export function identity(privateKey: KeyObject, publicKey: Buffer): Identity {
  return { privateKey, publicKey, ...derivedKeys(publicKey) };
}

export function remote(local: Identity, publicKey: Buffer, presharedKey: Buffer): Remote {
  return {
    publicKey,
    presharedKey,
    staticShared: dh(local.privateKey, publicKey),
    ...derivedKeys(publicKey),
    newestTimestamp: Buffer.alloc(12),
  };
}

function derivedKeys(publicKey: Buffer): { mac1Key: Buffer; cookieKey: Buffer } {
  return { mac1Key: hash(Buffer.from(LABEL_MAC1), publicKey), cookieKey: hash(Buffer.from(LABEL_COOKIE), publicKey) };
}

/** The handshake's running state between messages. */
export interface HandshakeState {
  chainingKey: Buffer;
  hash: Buffer;
  localIndex: number;
  remoteIndex: number;
  localEphemeral?: KeyPair;
  remoteEphemeral?: Buffer;
}

/** The two transport keys a completed handshake yields. */
export interface SessionKeys {
  send: Buffer;
  receive: Buffer;
}

const COOKIE_LIFETIME_MS = 120_000;

/** Fills in mac1 (keyed with the receiver's public key) and mac2 (with its cookie, if fresh). */
function addMacs(message: Buffer, to: Remote, now: number): void {
  const mac1At = message.length - 2 * MAC_LENGTH;
  const mac1 = mac(to.mac1Key, message.subarray(0, mac1At));
  mac1.copy(message, mac1At);
  to.lastMac1 = mac1;
  if (to.cookie !== undefined && now - to.cookie.receivedAt < COOKIE_LIFETIME_MS) {
    mac(to.cookie.value, message.subarray(0, mac1At + MAC_LENGTH)).copy(message, mac1At + MAC_LENGTH);
  }
}

/** Whether a handshake message's mac1 was made with our public key. */
export function validMac1(local: Identity, message: Buffer): boolean {
  const mac1At = message.length - 2 * MAC_LENGTH;
  return equal(mac(local.mac1Key, message.subarray(0, mac1At)), message.subarray(mac1At, mac1At + MAC_LENGTH));
}

/** Whether a handshake message's mac2 was made with the cookie we would give its sender. */
export function validMac2(message: Buffer, cookie: Buffer): boolean {
  const mac2At = message.length - MAC_LENGTH;
  return equal(mac(cookie, message.subarray(0, mac2At)), message.subarray(mac2At));
}

export function createInitiation(
  local: Identity,
  to: Remote,
  localIndex: number,
  now: number,
): { message: Buffer; state: HandshakeState } {
  const message = Buffer.alloc(INITIATION_LENGTH);
  message.writeUInt32LE(MESSAGE_INITIATION, 0);
  message.writeUInt32LE(localIndex, 4);
  const ephemeral = generateKeyPair();
  let c = INITIAL_CHAIN;
  let h = hash(INITIAL_HASH, to.publicKey);
  [c] = kdf(1, c, ephemeral.publicKey);
  ephemeral.publicKey.copy(message, 8);
  h = hash(h, ephemeral.publicKey);
  let k: Buffer;
  [c, k] = kdf(2, c, dh(ephemeral.privateKey, to.publicKey));
  const sealedStatic = seal(k, 0, local.publicKey, h);
  sealedStatic.copy(message, 40);
  h = hash(h, sealedStatic);
  [c, k] = kdf(2, c, to.staticShared);
  const sealedTime = seal(k, 0, tai64n(), h);
  sealedTime.copy(message, 88);
  h = hash(h, sealedTime);
  addMacs(message, to, now);
  return { message, state: { chainingKey: c, hash: h, localIndex, remoteIndex: 0, localEphemeral: ephemeral } };
}

/** Why an initiation was refused, or who sent it and the state to answer it from. */
export type ConsumedInitiation = { error: string } | { from: Remote; state: HandshakeState };

export function consumeInitiation(
  local: Identity,
  message: Buffer,
  findRemote: (publicKey: Buffer) => Remote | undefined,
): ConsumedInitiation {
  const remoteEphemeral = message.subarray(8, 40);
  let c = INITIAL_CHAIN;
  let h = hash(INITIAL_HASH, local.publicKey);
  [c] = kdf(1, c, remoteEphemeral);
  h = hash(h, remoteEphemeral);
  let k: Buffer;
  try {
    [c, k] = kdf(2, c, dh(local.privateKey, remoteEphemeral));
  } catch {
    return { error: 'a low-order ephemeral key' };
  }
  const sealedStatic = message.subarray(40, 88);
  const remoteStatic = open(k, 0, sealedStatic, h);
  if (remoteStatic === null) return { error: 'the static key does not decrypt' };
  h = hash(h, sealedStatic);
  const from = findRemote(remoteStatic);
  if (from === undefined) return { error: `an unknown peer (${remoteStatic.toString('base64')})` };
  [c, k] = kdf(2, c, from.staticShared);
  const sealedTime = message.subarray(88, 116);
  const timestamp = open(k, 0, sealedTime, h);
  if (timestamp === null) return { error: 'the timestamp does not decrypt' };
  h = hash(h, sealedTime);
  if (Buffer.compare(timestamp, from.newestTimestamp) <= 0)
    return { error: 'a replayed initiation (its timestamp is not newer)' };
  from.newestTimestamp = timestamp;
  const state = {
    chainingKey: c,
    hash: h,
    localIndex: 0,
    remoteIndex: message.readUInt32LE(4),
    remoteEphemeral: Buffer.from(remoteEphemeral),
  };
  return { from, state };
}

/** Mixes in the pre-shared key: the last step both sides take before the empty payload. */
function mixPresharedKey(c: Buffer, h: Buffer, psk: Buffer): { c: Buffer; h: Buffer; k: Buffer } {
  const [c2, tau, k] = kdf(3, c, psk);
  return { c: c2, h: hash(h, tau), k };
}

export function createResponse(
  state: HandshakeState,
  to: Remote,
  localIndex: number,
  now: number,
): { message: Buffer; keys: SessionKeys } {
  const remoteEphemeral = state.remoteEphemeral!;
  const message = Buffer.alloc(RESPONSE_LENGTH);
  message.writeUInt32LE(MESSAGE_RESPONSE, 0);
  message.writeUInt32LE(localIndex, 4);
  message.writeUInt32LE(state.remoteIndex, 8);
  const ephemeral = generateKeyPair();
  let c = state.chainingKey;
  [c] = kdf(1, c, ephemeral.publicKey);
  ephemeral.publicKey.copy(message, 12);
  const h = hash(state.hash, ephemeral.publicKey);
  [c] = kdf(1, c, dh(ephemeral.privateKey, remoteEphemeral));
  [c] = kdf(1, c, dh(ephemeral.privateKey, to.publicKey));
  const mixed = mixPresharedKey(c, h, to.presharedKey);
  const empty = seal(mixed.k, 0, EMPTY, mixed.h);
  empty.copy(message, 44);
  addMacs(message, to, now);
  const [initiatorSend, responderSend] = kdf(2, mixed.c, EMPTY);
  return { message, keys: { send: responderSend, receive: initiatorSend } };
}

export function consumeResponse(
  local: Identity,
  from: Remote,
  state: HandshakeState,
  message: Buffer,
): SessionKeys | { error: string } {
  const ephemeral = state.localEphemeral!;
  const remoteEphemeral = message.subarray(12, 44);
  let c = state.chainingKey;
  [c] = kdf(1, c, remoteEphemeral);
  const h = hash(state.hash, remoteEphemeral);
  try {
    [c] = kdf(1, c, dh(ephemeral.privateKey, remoteEphemeral));
    [c] = kdf(1, c, dh(local.privateKey, remoteEphemeral));
  } catch {
    return { error: 'a low-order ephemeral key' };
  }
  const mixed = mixPresharedKey(c, h, from.presharedKey);
  if (open(mixed.k, 0, message.subarray(44, 60), mixed.h) === null) return { error: 'the empty payload does not authenticate' };
  const [initiatorSend, responderSend] = kdf(2, mixed.c, EMPTY);
  return { send: initiatorSend, receive: responderSend };
}

// ---- Cookies: the responder's defence against a flood of initiations ----

/** The responder's rotating secret; a cookie is MAC(secret, source address and port). */
export class CookieJar {
  #secret = randomBytes(32);
  #bornAt = 0;

  cookieFor(address: string, port: number, now: number): Buffer {
    if (now - this.#bornAt >= COOKIE_LIFETIME_MS) {
      this.#secret = randomBytes(32);
      this.#bornAt = now;
    }
    return mac(this.#secret, Buffer.from(`${address}:${port}`));
  }
}

/** The reply to an initiation that lacks a valid mac2: the cookie, sealed with our cookie key. */
export function createCookieReply(local: Identity, initiation: Buffer, cookie: Buffer): Buffer {
  const message = Buffer.alloc(COOKIE_REPLY_LENGTH);
  message.writeUInt32LE(MESSAGE_COOKIE_REPLY, 0);
  initiation.copy(message, 4, 4, 8); // the initiator's sender index
  const nonce = randomBytes(24);
  nonce.copy(message, 8);
  const mac1At = initiation.length - 2 * MAC_LENGTH;
  xseal(local.cookieKey, nonce, cookie, initiation.subarray(mac1At, mac1At + MAC_LENGTH)).copy(message, 32);
  return message;
}

/** Stores the cookie from a reply to our last handshake message; false if it does not authenticate. */
export function consumeCookieReply(from: Remote, message: Buffer, now: number): boolean {
  if (from.lastMac1 === undefined) return false;
  const cookie = xopen(from.cookieKey, message.subarray(8, 32), message.subarray(32, 64), from.lastMac1);
  if (cookie === null) return false;
  from.cookie = { value: cookie, receivedAt: now };
  return true;
}
