// coalesce with udp: datagram trains of one flow become UDP_L4 super-packets;
// what ends a train; and the proof: super-packets written to a device with
// USO reach a UDP socket as the very datagrams they were made of, in order.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import os from 'node:os';
import { test } from 'node:test';
import { GsoType, TunDevice, VirtioNetFlags, coalesce, coalesceTcp, parseVirtioNetHeader, splitGso } from '../lib';
import { bringUp, ip, linkStats, privilegedTest, rejectAfter, uniqueName, uniqueSubnet } from './helpers';
import { pattern, referenceChecksum, udpDatagram, type UdpSpec } from './packet-builders';

/** `count` datagrams of one flow, `size` bytes each but `last` for the last one, IPv4 ids counting up. */
function train(count: number, size: number, spec: Omit<UdpSpec, 'payload'> & { last?: number; seed?: number } = {}): Buffer[] {
  const { last, seed = 1, ...fields } = spec;
  return Array.from({ length: count }, (_, i) =>
    udpDatagram({
      ...fields,
      id: ((fields.id ?? 300) + i) & 0xffff,
      payload: pattern(i === count - 1 ? (last ?? size) : size, seed * 1000 + i),
    }),
  );
}

function split(packet: Buffer): Buffer[] {
  const r = splitGso(packet);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.packets;
}

for (const version of [4, 6] as const) {
  const ipLength = version === 4 ? 20 : 40;

  test(`IPv${version}: consecutive datagrams of one flow become one UDP_L4 super-packet that splits back to them`, () => {
    const datagrams = train(10, 1200, { version, last: 700 });
    const out = coalesce(datagrams, { udp: true });
    assert.equal(out.length, 1);
    const h = parseVirtioNetHeader(out[0]);
    assert.equal(h?.gsoType, GsoType.UDP_L4);
    assert.equal(h?.gsoSize, 1200);
    assert.equal(h?.flags, VirtioNetFlags.NEEDS_CSUM);
    assert.equal(h?.csumStart, ipLength);
    assert.equal(h?.csumOffset, 6);
    assert.equal(h?.hdrLen, ipLength + 8);
    const p = out[0].subarray(10);
    const udpLength = 8 + 9 * 1200 + 700;
    assert.equal(p.readUInt16BE(ipLength + 4), udpLength, 'UDP length');
    if (version === 4) {
      assert.equal(p.readUInt16BE(2), 20 + udpLength);
      assert.equal(referenceChecksum([p.subarray(0, 20)]), 0, 'IPv4 header checksum');
    } else {
      assert.equal(p.readUInt16BE(4), udpLength);
    }
    assert.deepEqual(split(out[0]), datagrams, 'byte for byte, IPv4 ids and checksums included');
  });

  test(`IPv${version}: datagrams of different flows stay apart, each flow merged on its own`, () => {
    const a = train(4, 1000, { version, sport: 1111 });
    const b = train(4, 1000, { version, sport: 2222, seed: 2 });
    const c = train(2, 1000, { version, sport: 1111, dport: 9999, seed: 3 });
    const out = coalesce([a[0], b[0], c[0], a[1], b[1], c[1], a[2], b[2], a[3], b[3]], { udp: true });
    assert.equal(out.length, 3);
    assert.ok(out.every((p) => parseVirtioNetHeader(p)?.gsoType === GsoType.UDP_L4));
    assert.deepEqual(split(out[0]), a);
    assert.deepEqual(split(out[1]), b);
    assert.deepEqual(split(out[2]), c);
  });

  test(`IPv${version}: a datagram of another length ends the super-packet`, () => {
    // A shorter one is the last merged (the first three go together); a longer
    // one starts the next super-packet (the first two go together).
    for (const [odd, together] of [
      [400, 3],
      [1500, 2],
    ]) {
      const datagrams = train(4, 1000, { version });
      datagrams[2] = udpDatagram({ version, id: 302, payload: pattern(odd, 7) });
      const out = coalesce(datagrams, { udp: true });
      assert.equal(out.length, 2, `a datagram of ${odd} bytes among 1000`);
      assert.deepEqual(split(out[0]), datagrams.slice(0, together));
      assert.deepEqual(split(out[1]), datagrams.slice(together));
    }
  });

  test(`IPv${version}: a datagram with a bad checksum is not merged, and none after it overtakes it`, () => {
    const datagrams = train(5, 800, { version });
    datagrams[2][ipLength + 8 + 17] ^= 0x5a;
    const out = coalesce(datagrams, { udp: true });
    assert.deepEqual(
      out.map((p) => parseVirtioNetHeader(p)?.gsoType),
      [GsoType.UDP_L4, GsoType.NONE, GsoType.UDP_L4],
    );
    assert.deepEqual(out[1].subarray(10), datagrams[2]);
    assert.deepEqual([...split(out[0]), ...split(out[2])], [...datagrams.slice(0, 2), ...datagrams.slice(3)]);
    // Without the check the corrupted datagram merges (the kernel would then rewrite its checksum).
    assert.equal(coalesce(datagrams, { udp: true, verifyChecksums: false }).length, 1);
  });
}

test('UDP is left alone unless asked for: coalesceTcp and coalesce without udp pass datagrams through', () => {
  const datagrams = train(6, 1000);
  for (const out of [coalesceTcp(datagrams), coalesce(datagrams), coalesce(datagrams, { udp: false })]) {
    assert.equal(out.length, 6);
    out.forEach((p, i) => {
      assert.deepEqual(p.subarray(0, 10), Buffer.alloc(10));
      assert.deepEqual(p.subarray(10), datagrams[i]);
    });
  }
});

test('a super-packet holds at most 64 datagrams and stays within maxSize', () => {
  const datagrams = train(150, 100);
  const out = coalesce(datagrams, { udp: true });
  assert.deepEqual(
    out.map((p) => split(p).length),
    [64, 64, 22],
  );
  const capped = coalesce(train(40, 1000), { udp: true, maxSize: 28 + 10 * 1000 });
  assert.equal(capped.length, 4);
  for (const p of capped) assert.ok(p.length - 10 <= 28 + 10 * 1000);
  assert.equal(coalesce(train(64, 1400), { udp: true }).length, 2, '46 datagrams of 1400 fit in 65535');
});

test('a zero UDP checksum (IPv4 "none") or a UDP length that disagrees with the IP length never merges', () => {
  const none = train(4, 500);
  for (const d of none) d.writeUInt16BE(0, 26);
  assert.equal(coalesce(none, { udp: true }).length, 4);
  const odd = train(4, 500);
  odd[1].writeUInt16BE(500, 24); // says 492 bytes of payload; the IP length says 500
  assert.deepEqual(
    coalesce(odd, { udp: true, verifyChecksums: false }).map((p) => parseVirtioNetHeader(p)?.gsoType),
    [GsoType.NONE, GsoType.NONE, GsoType.UDP_L4],
  );
});

// On a real device: TUN_F_USO4|TUN_F_USO6 came with Linux 6.2.
const [major, minor] = os.release().split('.').map(Number);
const kernelHasUso = major > 6 || (major === 6 && minor >= 2);

interface Received {
  port: number;
  payload: Buffer;
}

/** Writes `packets` to the device and waits until `socket` has `expected` datagrams. */
async function deliver(dev: TunDevice, socket: dgram.Socket, packets: Buffer[], expected: number): Promise<Received[]> {
  const got: Received[] = [];
  const drops: string[] = [];
  dev.on('drop', (_p, error) => drops.push(error.code));
  const all = new Promise<void>((resolve) => {
    socket.on('message', (payload, rinfo) => {
      got.push({ port: rinfo.port, payload });
      if (got.length === expected) resolve();
    });
  });
  for (const p of packets) dev.writable.write(p);
  await Promise.race([
    all,
    rejectAfter(30_000, () => `${got.length} of ${expected} datagrams arrived; drops: ${drops.join(',') || 'none'}`),
  ]);
  assert.deepEqual(drops, []);
  return got;
}

for (const version of [4, 6] as const) {
  privilegedTest(
    `IPv${version}: super-packets written to a device with USO reach a UDP socket as every datagram, byte-exact, in order`,
    async (t) => {
      if (!kernelHasUso) return t.skip('TUN_F_USO4|TUN_F_USO6 needs Linux 6.2');
      await using dev = await TunDevice.open({ name: uniqueName('udpg'), offload: { uso: true } });
      assert.equal(dev.offload?.uso, true);
      let local: string;
      let peer: Buffer;
      let localBytes: Buffer;
      if (version === 4) {
        const net = uniqueSubnet();
        bringUp(dev.name, net);
        local = net.host(1);
        localBytes = Buffer.from(local.split('.').map(Number));
        peer = Buffer.from(net.host(2).split('.').map(Number));
      } else {
        const prefix = `fd42:${(process.pid & 0xffff).toString(16)}::`;
        ip('-6', 'addr', 'add', `${prefix}1/64`, 'dev', dev.name, 'nodad');
        ip('link', 'set', dev.name, 'up');
        local = `${prefix}1`;
        localBytes = Buffer.from('fd42' + (process.pid & 0xffff).toString(16).padStart(4, '0') + '0'.repeat(23) + '1', 'hex');
        peer = Buffer.from(localBytes);
        peer[15] = 2;
      }
      const socket = dgram.createSocket({ type: version === 4 ? 'udp4' : 'udp6', recvBufferSize: 8 << 20 });
      t.after(() => socket.close());
      socket.bind(0, local);
      await once(socket, 'listening');
      const dport = socket.address().port;
      // Two flows to one socket, interleaved: 150 and 40 datagrams, each ending short.
      const a = train(150, 1300, { version, src: peer, dst: localBytes, sport: 5001, dport, last: 77 });
      const b = train(40, 500, { version, src: peer, dst: localBytes, sport: 5002, dport, last: 3, seed: 2 });
      const datagrams = [...a.slice(0, 20), ...b.slice(0, 20), ...a.slice(20), ...b.slice(20)];
      const writes = coalesce(datagrams, { udp: true });
      assert.ok(writes.length <= 6, `${writes.length} writes for ${datagrams.length} datagrams`);
      assert.ok(writes.every((p) => parseVirtioNetHeader(p)?.gsoType === GsoType.UDP_L4));

      const got = await deliver(dev, socket, writes, datagrams.length);
      // The kernel counts what it took from us: one packet per write, not per datagram.
      assert.equal(linkStats(dev.name).rx.packets, writes.length);
      const payloadOf = (d: Buffer): Buffer => d.subarray((version === 4 ? 20 : 40) + 8);
      for (const [port, flow] of [
        [5001, a],
        [5002, b],
      ] as const) {
        const arrived = got.filter((r) => r.port === port).map((r) => r.payload);
        assert.equal(arrived.length, flow.length, `flow from port ${port}`);
        arrived.forEach((payload, i) => assert.ok(payload.equals(payloadOf(flow[i])), `datagram ${i} from port ${port}`));
      }
    },
  );
}
