// Properties of the offload helpers over generated streams (fast-check):
// cutting a super-packet with splitGso and merging the segments again with
// coalesceTcp gives back the stream's bytes, in order, for any payload,
// segment size and IP version.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { coalesceTcp } from '../lib/packet/gro';
import { splitGso } from '../lib/packet/gso';
import { GsoType, parseVirtioNetHeader } from '../lib/packet/virtio-net';
import { ACK, asSuperPacket, tcpPacket } from './packet-builders';

/** The TCP payload bytes of a plain IP packet, and its sequence number. */
function tcpPayload(ip: Buffer): { seq: number; bytes: Buffer } {
  const ipLength = ip[0] >> 4 === 4 ? (ip[0] & 0x0f) * 4 : 40;
  const total = ip[0] >> 4 === 4 ? ip.readUInt16BE(2) : 40 + ip.readUInt16BE(4);
  const tcpLength = (ip[ipLength + 12] >> 4) * 4;
  return { seq: ip.readUInt32BE(ipLength + 4), bytes: ip.subarray(ipLength + tcpLength, total) };
}

test('splitGso then coalesceTcp gives back the original stream bytes', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 60_000, size: 'max' }),
      fc.integer({ min: 1, max: 9000 }),
      fc.constantFrom(4 as const, 6 as const),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 100, max: 65535 }),
      (payload, mss, version, seq, maxSize) => {
        const stream = Buffer.from(payload);
        const superPacket = asSuperPacket(
          tcpPacket({ version, seq, flags: ACK, payload: stream }),
          version === 4 ? GsoType.TCPV4 : GsoType.TCPV6,
          mss,
        );
        const split = splitGso(superPacket);
        assert.ok(split.ok, split.ok ? '' : split.error);
        const merged = coalesceTcp(split.packets, { maxSize });
        // Each packet to write is a virtio_net_hdr and an IP packet whose TCP
        // payload is a run of the stream; a super-packet says how the kernel
        // is to cut it (by the segment size splitGso used).
        let expected = seq;
        const pieces: Buffer[] = [];
        for (const p of merged) {
          const header = parseVirtioNetHeader(p);
          assert.ok(header !== null);
          const { seq: at, bytes } = tcpPayload(p.subarray(10));
          if (header.gsoType !== GsoType.NONE) assert.equal(header.gsoSize, Math.min(mss, stream.length));
          assert.equal(at, expected >>> 0, 'the runs come in sequence');
          expected = (expected + bytes.length) >>> 0;
          pieces.push(bytes);
        }
        assert.ok(Buffer.concat(pieces).equals(stream));
      },
    ),
    { numRuns: 200, seed: Number(process.env.TUNTAP_PROPERTY_SEED ?? 4242) },
  );
});
