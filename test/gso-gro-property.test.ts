// Properties of the offload helpers over generated streams (fast-check):
// cutting a super-packet with splitGso and merging the segments again with
// coalesceTcp gives back the stream's bytes, in order, for any payload,
// segment size and IP version; and UDP datagrams of several flows merged with
// coalesce and cut again with splitGso are the datagrams that went in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { coalesce, coalesceTcp } from '../lib/packet/gro';
import { splitGso } from '../lib/packet/gso';
import { GsoType, parseVirtioNetHeader } from '../lib/packet/virtio-net';
import { ACK, asSuperPacket, pattern, tcpPacket, udpDatagram } from './packet-builders';

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

test('coalesce with udp then splitGso gives back every datagram of every flow, byte for byte, in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ flow: fc.integer({ min: 0, max: 2 }), size: fc.integer({ min: 1, max: 2000 }) }), {
        minLength: 1,
        maxLength: 300,
        size: 'max',
      }),
      fc.constantFrom(4 as const, 6 as const),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 100, max: 65535 }),
      fc.boolean(),
      (shape, version, firstId, maxSize, sameSize) => {
        // Runs of equal sizes are what merges; sameSize makes them long.
        const ids = [firstId, firstId + 7, firstId + 300];
        const sent: Buffer[][] = [[], [], []];
        const datagrams = shape.map(({ flow, size }, i) => {
          const d = udpDatagram({
            version,
            id: ids[flow]++ & 0xffff,
            sport: 6000 + flow,
            payload: pattern(sameSize ? 100 - flow : size, i),
          });
          sent[flow].push(d);
          return d;
        });
        const out = coalesce(datagrams, { udp: true, maxSize });
        const received: Buffer[][] = [[], [], []];
        for (const p of out) {
          const header = parseVirtioNetHeader(p);
          assert.ok(header !== null);
          assert.ok(p.length - 10 <= Math.max(maxSize, ...datagrams.map((d) => d.length)));
          const split = splitGso(p);
          assert.ok(split.ok, split.ok ? '' : split.error);
          if (header.gsoType !== GsoType.NONE) {
            assert.equal(header.gsoType, GsoType.UDP_L4);
            assert.ok(split.packets.length >= 2 && split.packets.length <= 64);
          }
          for (const d of split.packets) received[d.readUInt16BE(version === 4 ? 20 : 40) - 6000].push(d);
        }
        assert.deepEqual(received, sent);
      },
    ),
    { numRuns: 200, seed: Number(process.env.TUNTAP_PROPERTY_SEED ?? 4242) },
  );
});
