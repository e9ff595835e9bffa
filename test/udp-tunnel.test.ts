// udpTunnel(): two TUN devices in two namespaces, each carried over a UDP
// socket of ours on loopback (the test's own namespace) to the other. ping and
// a UDP burst go through both devices and both tunnels; the kernel answers.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TunDevice, udpTunnel, type UdpBatch, type UdpTunnel, type UdpTunnelOptions } from '../lib';
import { native } from '../lib/internal/native';
import { ipJson, linkExists, openFdCount, privilegedTest, run } from './helpers';
import { netnsPair, tcpTransfer, type NetnsPair } from './netns-pair';
import { udpPacket } from './packet-builders';

let nextPort = 40000 + (process.pid % 2000) * 8;

interface Tunnels {
  pair: NetnsPair;
  ta: UdpTunnel;
  tb: UdpTunnel;
  close(): Promise<void>;
}

/** Two devices in two namespaces, and a tunnel between them on 127.0.0.1. */
async function tunnels(extraA: Partial<UdpTunnelOptions> = {}, extraB: Partial<UdpTunnelOptions> = {}): Promise<Tunnels> {
  const pair = await netnsPair({}, {});
  const [portA, portB] = [nextPort++, nextPort++];
  const end = (port: number) => ({ address: '127.0.0.1', port });
  const ta = udpTunnel(pair.a, { bind: end(portA), peer: end(portB), ...extraA });
  const tb = udpTunnel(pair.b, { bind: end(portB), peer: end(portA), ...extraB });
  const t: Tunnels = {
    pair,
    ta,
    tb,
    close: async () => {
      await Promise.all([t.ta.close(), t.tb.close()]);
      await pair.close();
    },
  };
  return t;
}

async function ping(ns: string, to: string, count = 3): Promise<number | null> {
  const r = await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '3', to]);
  return r.code;
}

// A sender in one namespace and a receiver in the other: N datagrams of
// varying sizes, paced, each side's SHA-256 of the bytes in order.
const RECEIVER = `
const s = require('node:dgram').createSocket('udp4'), h = require('node:crypto').createHash('sha256');
const [n, address] = [Number(process.argv[1]), process.argv[2]];
let got = 0, bytes = 0;
s.on('message', (m) => { h.update(m); bytes += m.length; if (++got === n) { console.log(JSON.stringify({ got, bytes, hash: h.digest('hex') })); s.close(); } });
s.bind(9999, address, () => console.log('ready'));
`;
const SENDER = `
const s = require('node:dgram').createSocket('udp4'), c = require('node:crypto'), h = c.createHash('sha256');
const [n, address] = [Number(process.argv[1]), process.argv[2]];
(async () => {
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const m = c.randomBytes(100 + ((i * 37) % 1300));
    h.update(m); bytes += m.length;
    await new Promise((r) => s.send(m, 9999, address, r));
    if (i % 16 === 15) await new Promise((r) => setTimeout(r, 2));
  }
  console.log(JSON.stringify({ sent: n, bytes, hash: h.digest('hex') }));
  s.close();
})();
`;

async function burst(t: Tunnels, n: number, ns = t.pair.nsA, toNs = t.pair.nsB, to = t.pair.addressB): Promise<void> {
  const { spawn } = await import('node:child_process');
  const receiver = spawn('ip', ['netns', 'exec', toNs, process.execPath, '-e', RECEIVER, String(n), to]);
  try {
    const lines = (await import('node:readline')).createInterface({ input: receiver.stdout })[Symbol.asyncIterator]();
    assert.equal((await lines.next()).value, 'ready');
    const sender = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', SENDER, String(n), to]);
    assert.equal(sender.code, 0, sender.stderr);
    const received = await lines.next();
    assert.equal(received.done, false, 'the receiver got every datagram');
    const r = JSON.parse(received.value as string) as { got: number; bytes: number; hash: string };
    const s = JSON.parse(sender.stdout) as { bytes: number; hash: string };
    assert.deepEqual({ got: r.got, bytes: r.bytes, hash: r.hash }, { got: n, bytes: s.bytes, hash: s.hash });
  } finally {
    if (receiver.exitCode === null) {
      receiver.kill();
      await once(receiver, 'exit');
    }
  }
}

privilegedTest('ping goes through two devices joined by UDP tunnels, both ways', async () => {
  const t = await tunnels();
  try {
    assert.equal(await ping(t.pair.nsA, t.pair.addressB), 0);
    assert.equal(await ping(t.pair.nsB, t.pair.addressA), 0);
    const a = t.ta.counters;
    assert.ok(a.packetsOut >= 6 && a.packetsIn >= 6, JSON.stringify(a));
    assert.ok(a.bytesOut >= 6 * 84, JSON.stringify(a));
  } finally {
    await t.close();
  }
});

privilegedTest('a burst of 400 UDP datagrams crosses the tunnel byte-exact and in order', async () => {
  const t = await tunnels();
  try {
    await burst(t, 400);
    assert.deepEqual(t.tb.counters.dropped, {});
  } finally {
    await t.close();
  }
});

/** AES-256-CTR with a fresh 16-byte IV per packet, carried in the tunnel header. */
function aesHook(key: Buffer, decrypt: boolean, seen?: Buffer[]): (b: UdpBatch) => void {
  return ({ buffer, descriptors: d, count, headers }) => {
    for (let i = 0; i < count; i++) {
      const packet = buffer.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]);
      const iv = headers!.subarray(16 * i, 16 * i + 16);
      if (!decrypt) randomBytes(16).copy(iv);
      if (seen !== undefined && seen.length === 0) seen.push(Buffer.from(packet));
      const c = decrypt ? createDecipheriv('aes-256-ctr', key, iv) : createCipheriv('aes-256-ctr', key, iv);
      c.update(packet).copy(packet);
      if (seen !== undefined && seen.length === 1) seen.push(Buffer.from(packet));
    }
  };
}

privilegedTest(
  'hooks that encrypt and decrypt in place (AES-CTR, IV in a 16-byte header) keep ping and a burst working',
  async () => {
    const key = randomBytes(32);
    const seen: Buffer[] = [];
    const both = (decryptSeen?: Buffer[]): Partial<UdpTunnelOptions> => ({
      header: 16,
      onOutgoing: aesHook(key, false),
      onIncoming: aesHook(key, true, decryptSeen),
    });
    const t = await tunnels(both(), both(seen));
    try {
      assert.equal(await ping(t.pair.nsA, t.pair.addressB), 0);
      assert.equal(await ping(t.pair.nsB, t.pair.addressA), 0);
      await burst(t, 200);
      // What arrived was not the packet: the hook turned it into one.
      assert.notDeepEqual(seen[0], seen[1]);
    } finally {
      await t.close();
    }
  },
);

privilegedTest('a tunnel without the decrypting hook writes garbage the kernel drops: ping fails', async () => {
  const key = randomBytes(32);
  const t = await tunnels({ header: 16, onOutgoing: aesHook(key, false) }, { header: 16 });
  t.pair.b.on('drop', () => {}); // refusals are expected here: no warning for them
  try {
    assert.notEqual(await ping(t.pair.nsA, t.pair.addressB, 2), 0);
    assert.ok(t.ta.counters.packetsOut >= 2);
    // Most garbage names no IP version and the device refuses it; the rest the kernel drops unseen.
    // Either way the device took each (packetsIn: written by the socket or by writePackets()).
    assert.ok(t.tb.counters.packetsIn >= 2);
  } finally {
    await t.close();
  }
});

privilegedTest('packets a hook drops (length 0) are counted and never sent', async () => {
  const t = await tunnels({
    onOutgoing: ({ buffer, descriptors: d, count }) => {
      // Drop ICMP echo requests (protocol 1, type 8), keep the rest (the replies too).
      for (let i = 0; i < count; i++) {
        const p = d[2 * i];
        if (buffer[p] === 0x45 && buffer[p + 9] === 1 && buffer[p + 20] === 8) d[2 * i + 1] = 0;
      }
    },
  });
  try {
    assert.notEqual(await ping(t.pair.nsA, t.pair.addressB, 2), 0);
    assert.ok((t.ta.counters.dropped.hook ?? 0) >= 2, JSON.stringify(t.ta.counters));
    assert.equal(t.tb.counters.packetsIn, t.ta.counters.packetsOut, 'only what was sent arrived');
    assert.equal(await ping(t.pair.nsB, t.pair.addressA, 2), 0, 'the other way is untouched');
  } finally {
    await t.close();
  }
});

privilegedTest('with several peers, datagrams from a sender that is none of them are dropped as unknown-peer', async () => {
  // (With one peer the socket is connected and the kernel turns strangers away itself.)
  const t = await tunnels({}, {});
  await t.tb.close();
  const tb = udpTunnel(t.pair.b, {
    bind: { address: '127.0.0.1', port: t.tb.port },
    peers: [
      { address: '127.0.0.1', port: t.ta.port },
      { address: '127.0.0.2', port: 9 },
    ],
  });
  t.tb = tb;
  const stranger = dgram.createSocket('udp4');
  try {
    const packet = randomBytes(40);
    packet[0] = 0x45;
    await new Promise<void>((resolve, reject) =>
      stranger.send(packet, t.tb.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    );
    assert.equal(await ping(t.pair.nsA, t.pair.addressB, 1), 0, 'a ping after it is delivered (so the stray was read)');
    assert.equal(t.tb.counters.dropped['unknown-peer'], 1);
  } finally {
    stranger.close();
    await t.close();
  }
});

privilegedTest('without an incoming hook, what the tunnel counts in is what the kernel counts the device received', async () => {
  // The hook-less path writes natively; a packet the device refuses (EINVAL) is still the device's to report.
  const t = await tunnels({}, {});
  await t.ta.close();
  const peer = dgram.createSocket('udp4');
  const drops: string[] = [];
  t.pair.b.on('drop', (_packet, error) => drops.push(error.code));
  const rx = (): { packets: number; bytes: number } =>
    ipJson<{ stats64: { rx: { packets: number; bytes: number } } }>('-n', t.pair.nsB, '-s', 'link', 'show', t.pair.deviceB)[0]
      .stats64.rx;
  try {
    peer.bind(t.ta.port, '127.0.0.1');
    await once(peer, 'listening');
    const before = rx();
    const written = t.pair.b.stats;
    const N = 300;
    let bytes = 0;
    for (let i = 0; i < N + 2; i++) {
      const packet =
        i === 100 ? Buffer.alloc(0) : i === 200 ? Buffer.alloc(60) : udpPacket(4, Buffer.alloc(20 + (i % 900), i), i);
      if (i !== 100 && i !== 200) bytes += packet.length;
      await new Promise<void>((resolve, reject) => peer.send(packet, t.tb.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      if (i % 32 === 31) await new Promise((r) => setTimeout(r, 2));
    }
    for (let i = 0; i < 500 && t.tb.counters.packetsIn + (t.tb.counters.dropped.short ?? 0) < N + 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const c = t.tb.counters;
    const after = rx();
    assert.deepEqual(drops, ['EINVAL'], 'the version-0 packet, refused by the kernel, reported by the device');
    assert.deepEqual(c.dropped, { short: 1 });
    // packetsIn counts what the device consumed, the refused packet too (writePackets() does).
    assert.equal(c.packetsIn, N + 1);
    assert.equal(c.bytesIn, bytes + 60);
    assert.equal(after.packets - before.packets, N, "the device's rx_packets");
    assert.equal(after.bytes - before.bytes, bytes, "the device's rx_bytes");
    // The device's own stats count what the socket wrote into it, before and after the tunnel closes.
    const stats = t.pair.b.stats;
    assert.deepEqual([stats.packetsWritten - written.packetsWritten, stats.bytesWritten - written.bytesWritten], [N, bytes]);
    await t.tb.close();
    const closed = t.pair.b.stats;
    assert.deepEqual([closed.packetsWritten - written.packetsWritten, closed.bytesWritten - written.bytesWritten], [N, bytes]);
  } finally {
    peer.close();
    await t.close();
  }
});

privilegedTest('a hook that closes its tunnel stops it there; the device stays open and the port is free', async () => {
  let closes = 0;
  let tb: UdpTunnel | undefined;
  const t = await tunnels(
    {},
    {
      onIncoming: () => {
        closes++;
        void tb!.close();
      },
    },
  );
  tb = t.tb;
  try {
    assert.notEqual(await ping(t.pair.nsA, t.pair.addressB, 2), 0);
    assert.equal(closes, 1, 'no batch after close');
    assert.equal(t.tb.closed, true);
    assert.equal(t.tb.counters.packetsIn, 0);
    assert.equal(t.pair.b.closed, false);
    const probe = dgram.createSocket('udp4');
    probe.bind(t.tb.port, '127.0.0.1');
    await once(probe, 'listening');
    probe.close();
  } finally {
    await t.close();
  }
});

privilegedTest('closing both tunnels while a flood is in flight leaves the devices open and every fd closed', async () => {
  const fds = openFdCount();
  const t = await tunnels();
  const { spawn } = await import('node:child_process');
  const flood = spawn('ip', ['netns', 'exec', t.pair.nsA, process.execPath, '-e', SENDER, '20000', t.pair.addressB]);
  try {
    while (t.ta.counters.packetsOut < 100) await new Promise((r) => setTimeout(r, 5));
    await Promise.all([t.ta.close(), t.tb.close()]);
    const frozen = JSON.stringify([t.ta.counters, t.tb.counters]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(JSON.stringify([t.ta.counters, t.tb.counters]), frozen, 'nothing is counted after close');
    assert.equal(t.pair.a.closed, false);
  } finally {
    if (flood.exitCode === null) {
      flood.kill();
      await once(flood, 'exit');
    }
    await t.close();
  }
  assert.equal(openFdCount(), fds);
});

privilegedTest('closeDevice: closing the tunnel closes the device; closing the device closes the tunnel', async () => {
  const t = await tunnels({ closeDevice: true });
  try {
    await t.ta.close();
    assert.equal(t.pair.a.closed, true);
    await t.pair.b.close();
    assert.equal(t.tb.closed, true);
  } finally {
    await t.close();
  }
});

privilegedTest('a device closed while its hook-less tunnel writes a flood into it is gone once close() resolves', async () => {
  // The socket writes into a dup of the device's fd: the tunnel must let it go before close() resolves.
  const fds = openFdCount();
  const dev = await TunDevice.open();
  const flood = dgram.createSocket('udp4');
  let flooding = true;
  try {
    flood.bind(0, '127.0.0.1');
    await once(flood, 'listening');
    const tunnel = udpTunnel(dev, { bind: { address: '127.0.0.1', port: 0 }, peer: flood.address() });
    await run('ip', ['link', 'set', 'dev', dev.name, 'up']);
    const packet = udpPacket(4, Buffer.alloc(200));
    const pump = (): void => {
      for (let i = 0; i < 32 && flooding; i++) flood.send(packet, tunnel.port, '127.0.0.1');
      if (flooding) setImmediate(pump);
    };
    pump();
    for (let i = 0; i < 500 && tunnel.counters.packetsIn < 200; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(tunnel.counters.packetsIn >= 200, 'the flood arrives');
    const name = dev.name;
    await dev.close();
    assert.equal(tunnel.closed, true);
    assert.equal(linkExists(name), false, 'no fd of ours holds the device');
  } finally {
    flooding = false;
    flood.close();
    await dev.close();
  }
  await new Promise((r) => setImmediate(r));
  assert.equal(openFdCount(), fds);
});

privilegedTest(
  'a hook that points a packet outside the batch or at a peer that does not exist gets it dropped as invalid',
  async () => {
    let spoilt = 0;
    const t = await tunnels({
      onOutgoing: ({ buffer, descriptors: d, count, peer }) => {
        for (let i = 0; i < count; i++) {
          if (buffer[d[2 * i]] !== 0x45 || buffer[d[2 * i] + 9] !== 1 || buffer[d[2 * i] + 20] !== 8) continue;
          if (spoilt++ % 2 === 0) d[2 * i + 1] = buffer.length + 1;
          else peer[i] = 7;
        }
      },
    });
    try {
      assert.notEqual(await ping(t.pair.nsA, t.pair.addressB, 2), 0);
      assert.equal(t.ta.counters.dropped.invalid, spoilt);
      assert.ok(spoilt >= 2);
      assert.equal(await ping(t.pair.nsB, t.pair.addressA, 2), 0, 'the tunnel goes on');
    } finally {
      await t.close();
    }
  },
);

privilegedTest('a port already taken fails with a TunError: EADDRINUSE, syscall bind, and a hint', async () => {
  const t = await tunnels();
  try {
    await t.tb.close();
    assert.throws(
      () => udpTunnel(t.pair.b, { bind: { address: '127.0.0.1', port: t.ta.port }, peer: { address: '127.0.0.1', port: 9 } }),
      {
        name: 'TunError',
        code: 'EADDRINUSE',
        syscall: 'bind',
        hint: /port 0/,
      },
    );
    assert.equal(t.pair.b.closed, false);
  } finally {
    await t.close();
  }
});

privilegedTest('offload: false carries 4 MB of TCP byte-exact between offload devices, super-packets as read', async () => {
  const pair = await netnsPair({ offload: true }, { offload: true });
  const [portA, portB] = [nextPort++, nextPort++];
  const end = (port: number) => ({ address: '127.0.0.1', port });
  const ta = udpTunnel(pair.a, { bind: end(portA), peer: end(portB), offload: false });
  const tb = udpTunnel(pair.b, { bind: end(portB), peer: end(portA), offload: false });
  try {
    const r = await tcpTransfer(pair, 4 << 20);
    assert.equal(r.receivedHash, r.sentHash);
    assert.ok(
      ta.counters.bytesOut / ta.counters.packetsOut > 1500,
      `super-packets went as they were: ${JSON.stringify(ta.counters)}`,
    );
    assert.equal(tb.counters.groReceives, 0);
  } finally {
    await Promise.all([ta.close(), tb.close()]);
    await pair.close();
  }
});

privilegedTest('plain devices: 4 MB of TCP byte-exact, runs of equal packets out as UDP_SEGMENT sends', async () => {
  const t = await tunnels();
  try {
    const r = await tcpTransfer(t.pair, 4 << 20);
    assert.equal(r.receivedHash, r.sentHash);
    const a = t.ta.counters;
    assert.ok(a.gsoSends > 0 && a.packetsOut > a.gsoSends, `runs went as UDP_SEGMENT sends: ${JSON.stringify(a)}`);
  } finally {
    await t.close();
  }
});

privilegedTest('runs split by peer and size: mixed datagrams to two peer entries arrive byte-exact and in order', async () => {
  // Two entries for one peer: the hook sends runs of three to each in turn.
  const t = await tunnels();
  await t.ta.close();
  const b = { address: '127.0.0.1', port: t.tb.port };
  t.ta = udpTunnel(t.pair.a, {
    bind: { address: '127.0.0.1', port: t.ta.port },
    peers: [b, b],
    onOutgoing: ({ count, peer }) => {
      for (let i = 0; i < count; i++) peer[i] = Math.floor(i / 3) % 2;
    },
  });
  try {
    await burst(t, 400);
    assert.deepEqual(t.tb.counters.dropped, {});
  } finally {
    await t.close();
  }
});

privilegedTest('a peer that goes away and comes back: its port unreachables are counted and the tunnel goes on', async () => {
  const t = await tunnels();
  try {
    const portB = t.tb.port;
    await t.tb.close();
    // Every packet A sends now draws an ICMP port unreachable (no rate limit on loopback).
    assert.notEqual(await ping(t.pair.nsA, t.pair.addressB, 12), 0);
    const refused = (t.ta.counters.errors.ECONNREFUSED ?? 0) + (t.ta.counters.dropped.ECONNREFUSED ?? 0);
    assert.ok(refused >= 10, JSON.stringify(t.ta.counters));
    t.tb = udpTunnel(t.pair.b, { bind: { address: '127.0.0.1', port: portB }, peer: { address: '127.0.0.1', port: t.ta.port } });
    assert.equal(await ping(t.pair.nsA, t.pair.addressB), 0);
    assert.equal(await ping(t.pair.nsB, t.pair.addressA), 0);
  } finally {
    await t.close();
  }
});

/** Two offload devices in two namespaces joined by tunnels with `extra`; `body` runs, then all is closed. */
async function offloadTunnels(extra: Partial<UdpTunnelOptions>, body: (t: Tunnels) => Promise<void>): Promise<void> {
  const pair = await netnsPair({ offload: true }, { offload: true });
  const [portA, portB] = [nextPort++, nextPort++];
  const end = (port: number) => ({ address: '127.0.0.1', port });
  const t: Tunnels = {
    pair,
    ta: udpTunnel(pair.a, { bind: end(portA), peer: end(portB), ...extra }),
    tb: udpTunnel(pair.b, { bind: end(portB), peer: end(portA), ...extra }),
    close: async () => {
      await Promise.all([t.ta.close(), t.tb.close()]);
      await pair.close();
    },
  };
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

privilegedTest('offload devices: 8 MB of TCP byte-exact, super-packets out as UDP_SEGMENT sends, in by UDP_GRO', async () => {
  await offloadTunnels({}, async (t) => {
    const r = await tcpTransfer(t.pair, 8 << 20);
    assert.equal(r.receivedHash, r.sentHash);
    const a = t.ta.counters;
    const b = t.tb.counters;
    const all = JSON.stringify({ a, b });
    assert.ok(a.gsoSends > 0, `segments of a super-packet left in one sendmsg: ${all}`);
    assert.ok(b.groReceives > 0, `datagrams came in coalesced: ${all}`);
    assert.ok(b.superPacketsIn > 0 && b.superPacketsIn < b.packetsIn / 4, `the device got few large writes: ${all}`);
    assert.ok(a.bytesOut / a.packetsOut <= 1500, `plain MTU-sized packets on the wire: ${all}`);
  });
});

privilegedTest('offload devices with a header and AES hooks: the hooks see each segment, TCP arrives byte-exact', async () => {
  const key = randomBytes(32);
  let largest = 0;
  const encrypt = aesHook(key, false);
  await offloadTunnels(
    {
      header: 16,
      onOutgoing: (batch) => {
        for (let i = 0; i < batch.count; i++) largest = Math.max(largest, batch.descriptors[2 * i + 1]);
        encrypt(batch);
      },
      onIncoming: aesHook(key, true),
    },
    async (t) => {
      const r = await tcpTransfer(t.pair, 4 << 20);
      assert.equal(r.receivedHash, r.sentHash);
      const all = JSON.stringify({ a: t.ta.counters, b: t.tb.counters });
      assert.ok(largest > 1000 && largest <= 1500, `the hook saw segments, not super-packets (largest ${largest})`);
      assert.ok(t.ta.counters.gsoSends > 0 && t.tb.counters.groReceives > 0, all);
    },
  );
});

privilegedTest('send() carries a control datagram; the incoming hook consumes it, counted apart from drops', async () => {
  const control = Buffer.from('\x01handshake initiation');
  const got: Buffer[] = [];
  const t = await tunnels(
    {},
    {
      onIncoming: (batch) => {
        const { buffer, descriptors: d } = batch;
        for (let i = 0; i < batch.count; i++) {
          if (buffer[d[2 * i]] >> 4 === 0) {
            got.push(Buffer.from(buffer.subarray(d[2 * i], d[2 * i] + d[2 * i + 1])));
            batch.consume(i);
          }
        }
      },
    },
  );
  try {
    assert.equal(t.ta.send(control), true);
    assert.equal(t.ta.send(new Uint8Array([1, 2, 3]), 0), true);
    assert.equal(await ping(t.pair.nsA, t.pair.addressB, 2), 0, 'device packets pass the hook untouched');
    assert.deepEqual(got, [control, Buffer.from([1, 2, 3])]);
    assert.equal(t.ta.counters.controlOut, 2);
    assert.equal(t.tb.counters.consumed, 2);
    assert.deepEqual(t.tb.counters.dropped, {});
    assert.throws(() => t.ta.send('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => t.ta.send(control, 1), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => t.ta.send(Buffer.alloc(65508)), { code: 'ERR_OUT_OF_RANGE' });
    await t.ta.close();
    assert.throws(() => t.ta.send(control), { code: 'ERR_TUNNEL_CLOSED' });
  } finally {
    await t.close();
  }
});

privilegedTest('fd: a bound UDP socket of the caller carries the tunnel and stays open after close unless closeFd', async () => {
  const pair = await netnsPair({}, {});
  const a = native.UdpSocket.open(4, '127.0.0.1', 0, 0, 0);
  const b = native.UdpSocket.open(4, '127.0.0.1', 0, 0, 0);
  const fds = openFdCount();
  try {
    const ta = udpTunnel(pair.a, { fd: a.fd, peer: { address: '127.0.0.1', port: b.port } });
    const tb = udpTunnel(pair.b, { fd: b.fd, closeFd: true, peer: { address: '127.0.0.1', port: a.port } });
    assert.equal(ta.port, a.port);
    assert.equal(await ping(pair.nsA, pair.addressB), 0);
    await Promise.all([ta.close(), tb.close()]);
    assert.equal(native.UdpSocket.inspect(a.fd, false).port, a.port, 'the adopted fd is still open');
    assert.throws(() => fs.fstatSync(b.fd), { code: 'EBADF' }, 'closeFd closed it');
    assert.equal(openFdCount(), fds - 1);
  } finally {
    fs.closeSync(a.fd);
    await pair.close();
  }
});

privilegedTest(
  'fd: what is not a bound UDP socket of the peers family is refused with EINVAL or ENOTSOCK and a hint',
  async () => {
    const dev = await TunDevice.open();
    const peer = { address: '127.0.0.1', port: 9 };
    const file = fs.openSync('/dev/null', 'r');
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const v6 = native.UdpSocket.open(6, '::1', 0, 0, 0);
    const fds = openFdCount();
    try {
      assert.throws(() => udpTunnel(dev, { fd: file, peer }), { name: 'TunError', code: 'ENOTSOCK', hint: /UDP/ });
      const tcp = (server as unknown as { _handle: { fd: number } })._handle.fd;
      assert.throws(() => udpTunnel(dev, { fd: tcp, peer }), { code: 'EINVAL', hint: /SOCK_DGRAM/ });
      assert.throws(() => udpTunnel(dev, { fd: v6.fd, peer }), { code: 'EINVAL', hint: /IPv4/ });
      assert.throws(() => udpTunnel(dev, { fd: 1.5, peer }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => udpTunnel(dev, { fd: v6.fd, peer, bind: {} }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => udpTunnel(dev, { peer, offload: true }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.equal(openFdCount(), fds);
    } finally {
      fs.closeSync(file);
      fs.closeSync(v6.fd);
      server.close();
      await dev.close();
    }
  },
);

// A child with a device and a tunnel, and a timer that does not hold the loop:
// it fires only if the tunnel does.
const CHILD = `
const { TunDevice, udpTunnel } = require(process.argv[1]);
(async () => {
  const dev = await TunDevice.open();
  const t = udpTunnel(dev, { bind: { address: '127.0.0.1' }, peer: { address: '127.0.0.1', port: 9 } });
  if (process.argv[2] === 'unref') t.unref(); else t.unref().ref();
  setTimeout(() => { console.log('held'); void t.close(); void dev.close(); }, 200).unref();
  process.on('exit', () => console.log('exit'));
})();
`;

privilegedTest('unref() lets the process exit with the tunnel open; ref() holds it again', async () => {
  const lib = path.join(__dirname, '..', 'lib');
  const unref = await run(process.execPath, ['-e', CHILD, lib, 'unref']);
  assert.equal(unref.code, 0, unref.stderr);
  assert.equal(unref.stdout.trim(), 'exit');
  const ref = await run(process.execPath, ['-e', CHILD, lib, 'ref']);
  assert.equal(ref.code, 0, ref.stderr);
  assert.equal(ref.stdout.trim(), 'held\nexit');
});
