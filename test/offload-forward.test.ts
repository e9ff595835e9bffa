// A TCP transfer between two network namespaces, each holding one TUN device
// of ours, joined by a forwarder on the public API: offloads on, packets
// passed as read; super-packets split into MTU-sized segments; split then
// coalesced again. Byte-exact every time (SHA-256 at both ends).
import assert from 'node:assert/strict';
import {
  GsoType,
  TunDevice,
  VIRTIO_NET_HDR_SIZE,
  coalesceTcp,
  parseVirtioNetHeader,
  splitGso,
  withVirtioNetHeader,
} from '../lib';
import { privilegedTest } from './helpers';
import { forward, netnsPair, tcpTransfer } from './netns-pair';
import { checksumsValid } from './packet-builders';

const MB = 1 << 20;
const MTU = 1500;

/** Forwards a to b cutting every super-packet into segments and merging them again; counts what went by. */
function splitAndCoalesce(a: TunDevice, b: TunDevice): { segments: number; writes: number; tcpv6: number } {
  const counts = { segments: 0, writes: 0, tcpv6: 0 };
  forward(a, b, (p) => {
    if (parseVirtioNetHeader(p)?.gsoType === GsoType.TCPV6) counts.tcpv6++;
    const r = splitGso(p);
    if (!r.ok) return [];
    counts.segments += r.packets.length;
    const merged = coalesceTcp(r.packets);
    counts.writes += merged.length;
    return merged;
  });
  return counts;
}

privilegedTest('8 MB of TCP through two offload devices and a pass-through forwarder arrive byte-exact', async () => {
  const pair = await netnsPair({ offload: true }, { offload: true });
  try {
    let superPackets = 0;
    const count = (p: Buffer): Buffer[] => {
      const h = parseVirtioNetHeader(p);
      if (h !== null && h.gsoType !== GsoType.NONE) superPackets++;
      return [p];
    };
    forward(pair.a, pair.b, count);
    forward(pair.b, pair.a);
    const r = await tcpTransfer(pair, 8 * MB);
    assert.equal(r.receivedBytes, 8 * MB);
    assert.equal(r.receivedHash, r.sentHash);
    assert.ok(superPackets > 0, 'the kernel handed over TCP super-packets');
  } finally {
    await pair.close();
  }
});

privilegedTest(
  'with offloads the reader sees super-packets larger than the MTU, and their split segments are accepted by a plain device',
  async () => {
    const pair = await netnsPair({ offload: { tso: true } }, {});
    try {
      let largest = 0;
      let superPackets = 0;
      let segments = 0;
      let badSegments = 0;
      let splitErrors = 0;
      forward(pair.a, pair.b, (p) => {
        const h = parseVirtioNetHeader(p);
        if (h !== null && h.gsoType !== GsoType.NONE) {
          superPackets++;
          largest = Math.max(largest, p.length - VIRTIO_NET_HDR_SIZE);
        }
        const r = splitGso(p);
        if (!r.ok) {
          splitErrors++;
          return [];
        }
        for (const s of r.packets) {
          segments++;
          if (s.length > MTU || (s[0] >> 4 === 4 && !checksumsValid(s))) badSegments++;
        }
        return r.packets;
      });
      // Device b has no vnet header; device a wants one on every packet.
      forward(pair.b, pair.a, (p) => [withVirtioNetHeader(p)]);
      const r = await tcpTransfer(pair, 4 * MB);
      assert.equal(r.receivedHash, r.sentHash);
      assert.equal(r.receivedBytes, 4 * MB);
      assert.ok(superPackets > 0, 'some reads had gso_type != NONE');
      assert.ok(largest > MTU, `largest read ${largest} bytes exceeds the MTU`);
      assert.ok(segments >= (4 * MB) / 1448, 'every payload byte went out in MTU-sized segments');
      assert.equal(badSegments, 0, 'every segment fits the MTU and has valid checksums');
      assert.equal(splitErrors, 0);
    } finally {
      await pair.close();
    }
  },
);

privilegedTest('segments coalesced again into super-packets are accepted by an offload device, in fewer writes', async () => {
  const pair = await netnsPair({ offload: { tso: true } }, { offload: { tso: true } });
  try {
    const counts = splitAndCoalesce(pair.a, pair.b);
    forward(pair.b, pair.a);
    const r = await tcpTransfer(pair, 4 * MB);
    assert.equal(r.receivedHash, r.sentHash);
    assert.equal(r.receivedBytes, 4 * MB);
    assert.ok(counts.writes * 4 < counts.segments, `${counts.writes} writes for ${counts.segments} segments`);
  } finally {
    await pair.close();
  }
});

privilegedTest('over IPv6, TCPV6 super-packets split and coalesced again arrive byte-exact', async () => {
  const pair = await netnsPair({ offload: { tso: true } }, { offload: { tso: true } });
  try {
    const counts = splitAndCoalesce(pair.a, pair.b);
    forward(pair.b, pair.a);
    const r = await tcpTransfer(pair, 4 * MB, 60_000, true);
    assert.equal(r.receivedHash, r.sentHash);
    assert.equal(r.receivedBytes, 4 * MB);
    assert.ok(counts.tcpv6 > 0, 'the kernel handed over TCPV6 super-packets');
    assert.ok(counts.writes * 4 < counts.segments, `${counts.writes} writes for ${counts.segments} segments`);
  } finally {
    await pair.close();
  }
});
