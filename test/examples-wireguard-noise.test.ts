// examples/wireguard's primitives against published vectors (RFC 7748, RFC
// 8439, RFC 7693) and against a second implementation (@noble), and its
// replay window. The handshake itself is proved against wireguard-go in
// examples-wireguard.test.ts: the whitepaper publishes no vector for it.
import assert from 'node:assert/strict';
import { createCipheriv, createPublicKey, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { dh, hash, hmac, kdf, open, privateKeyObject, rawPublicKey, seal, tai64n } from '../examples/wireguard/noise';
import { REPLAY_WINDOW, ReplayWindow } from '../examples/wireguard/transport';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

test('X25519 gives the public keys and shared secret of RFC 7748 section 6.1', () => {
  const alice = privateKeyObject(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const bob = privateKeyObject(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  const alicePublic = rawPublicKey(createPublicKey(alice));
  const bobPublic = rawPublicKey(createPublicKey(bob));
  assert.equal(alicePublic.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(bobPublic.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(dh(alice, bobPublic).toString('hex'), shared);
  assert.equal(dh(bob, alicePublic).toString('hex'), shared);
});

test('X25519 refuses a low-order public key (an all-zero shared secret)', () => {
  assert.throws(() => dh(privateKeyObject(randomBytes(32)), Buffer.alloc(32)));
});

test("OpenSSL's ChaCha20-Poly1305 gives RFC 8439 section 2.8.2's ciphertext and tag", () => {
  const cipher = createCipheriv(
    'chacha20-poly1305',
    hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
    hex('070000004041424344454647'),
    {
      authTagLength: 16,
    },
  );
  const plaintext = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  cipher.setAAD(hex('50515253c0c1c2c3c4c5c6c7'), { plaintextLength: plaintext.length });
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  assert.equal(ciphertext.subarray(0, 16).toString('hex'), 'd31a8d34648e60db7b86afbc53ef7ec2');
  assert.equal(cipher.getAuthTag().toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
});

test('seal and open use the nonce WireGuard does (32 zero bits, the counter little-endian), as @noble reads it', () => {
  const key = randomBytes(32);
  const aad = randomBytes(32);
  const plaintext = randomBytes(77);
  const counter = 0x1_2345_6789;
  const nonce = hex('000000008967452301000000');
  const sealed = seal(key, counter, plaintext, aad);
  assert.deepEqual(Buffer.from(chacha20poly1305(key, nonce, aad).decrypt(sealed)), plaintext);
  assert.deepEqual(open(key, counter, Buffer.from(chacha20poly1305(key, nonce, aad).encrypt(plaintext)), aad), plaintext);
  assert.equal(open(key, counter + 1, sealed, aad), null, 'another counter does not authenticate');
  sealed[3] ^= 1;
  assert.equal(open(key, counter, sealed, aad), null, 'a flipped bit does not authenticate');
});

test('HASH is BLAKE2s-256 (RFC 7693 appendix B) and HMAC matches @noble over BLAKE2s', () => {
  assert.equal(hash(Buffer.from('abc')).toString('hex'), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  const key = randomBytes(32);
  const message = randomBytes(100);
  assert.deepEqual(hmac(key, message.subarray(0, 40), message.subarray(40)), Buffer.from(nobleHmac(blake2s, key, message)));
});

test("KDF1, KDF2 and KDF3 give wireguard-go's own KDF test vectors", () => {
  const vectors = [
    [
      '746573742d6b6579',
      '746573742d696e707574',
      '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
      'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
      'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
    ],
    [
      '776972656775617264',
      '776972656775617264',
      '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8',
      '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f',
      '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160',
    ],
    [
      '',
      '',
      '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
      '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
      '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
    ],
  ];
  for (const [key, input, ...outputs] of vectors) {
    for (const n of [1, 2, 3] as const) {
      assert.deepEqual(
        kdf(n, hex(key), hex(input)).map((b) => b.toString('hex')),
        outputs.slice(0, n),
      );
    }
  }
});

test('TAI64N timestamps are 12 bytes, 2^62 + 10 + seconds since 1970, and strictly increasing', () => {
  const first = tai64n();
  const second = tai64n();
  assert.equal(first.length, 12);
  const seconds = Number(first.readBigUInt64BE(0) - (1n << 62n) - 10n);
  assert.ok(Math.abs(seconds - Date.now() / 1000) < 5);
  assert.ok(Buffer.compare(second, first) > 0);
});

test('the replay window accepts each counter once, out of order within the window, nothing older', () => {
  const w = new ReplayWindow();
  const take = (c: number): boolean => {
    if (!w.fresh(c)) return false;
    w.accept(c);
    return true;
  };
  assert.ok(take(0));
  assert.equal(take(0), false);
  assert.ok(take(5));
  assert.ok(take(3), 'late but inside the window');
  assert.equal(take(3), false);
  assert.ok(take(REPLAY_WINDOW + 5));
  assert.ok(take(6), 'the oldest counter inside the window');
  assert.equal(take(5), false, 'seen');
  assert.equal(take(4), false, 'older than the window');
  // A jump past the whole bitmap forgets every old bit, and counters below the window stay refused.
  assert.ok(take(10 * REPLAY_WINDOW));
  assert.equal(take(REPLAY_WINDOW + 5), false);
  assert.ok(take(10 * REPLAY_WINDOW - 1));
  assert.ok(take(10 * REPLAY_WINDOW - REPLAY_WINDOW + 1));
  assert.equal(take(10 * REPLAY_WINDOW - REPLAY_WINDOW), false);
});

test('every counter of a shuffled run inside the window is accepted exactly once', () => {
  const w = new ReplayWindow();
  // Blocks of 500 counters, each reversed: up to 499 late, well inside the window.
  const counters = Array.from({ length: 4000 }, (_, i) => i - (i % 500) + 499 - (i % 500));
  let accepted = 0;
  for (const c of [...counters, ...counters]) {
    if (w.fresh(c)) {
      w.accept(c);
      accepted++;
    }
  }
  assert.equal(accepted, counters.length);
});
