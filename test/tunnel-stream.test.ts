// tunnel(): two devices in two namespaces joined only by two tunnels over one
// TCP (or TLS) connection in the test's namespace. ping, UDP sockets and the
// links' kernel counters are the oracle.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { TunDevice, tunnel, udpPacket, type Framing, type Tunnel, type TunnelOptions } from '../lib';
import { ipJson, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { gc } from './gc';
import { until } from './kernel-helpers';
import { netnsPair, type NetnsPair } from './netns-pair';

interface Joined {
  pair: NetnsPair;
  ta: Tunnel;
  tb: Tunnel;
  /** A's end of the TCP connection (its tunnel's transport), and B's. */
  sa: net.Socket;
  sb: net.Socket;
  close(): Promise<void>;
}

/** Two namespaces whose devices are joined by tunnels over one TCP connection on lo (or a Unix socket at `unixPath`). */
async function joined(options: TunnelOptions = {}, optionsB = options, unixPath?: string): Promise<Joined> {
  const pair = await netnsPair({}, {});
  const server = net.createServer();
  if (unixPath === undefined) server.listen(0, '127.0.0.1');
  else server.listen(unixPath);
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const sa =
    unixPath === undefined ? net.connect((server.address() as net.AddressInfo).port, '127.0.0.1') : net.connect(unixPath);
  const [[sb]] = await Promise.all([accepted, once(sa, 'connect')]);
  server.close();
  const ta = tunnel(pair.a, sa, options);
  const tb = tunnel(pair.b, sb, optionsB);
  return {
    pair,
    ta,
    tb,
    sa,
    sb,
    async close() {
      ta.destroy();
      tb.destroy();
      await pair.close();
    },
  };
}

/** The link's TX drops as the kernel counts them (the ring full). */
function txDropped(ns: string, device: string): number {
  const [link] = ipJson<{ stats64: { tx: { dropped: number } } }>('-n', ns, '-s', 'link', 'show', 'dev', device);
  return link.stats64.tx.dropped;
}

/** Runs `args` in namespace `ns` and fails with its output unless it exits 0. */
async function inNs(ns: string, ...args: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, ...args]);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

const UDP_RECEIVER = `
const dgram = require('node:dgram');
const [address, count] = process.argv.slice(1);
const s = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
const got = new Set();
let bad = 0;
s.on('message', (m) => {
  const seq = m.readUInt32BE(0);
  for (let k = 4; k < m.length; k++) if (m[k] !== ((seq * 7 + k) & 0xff)) { bad++; break; }
  got.add(seq);
  if (got.size === Number(count)) { console.log(JSON.stringify({ got: got.size, bad })); s.close(); }
});
s.bind(40100, address, () => console.log('ready'));
setTimeout(() => { console.log(JSON.stringify({ got: got.size, bad })); process.exit(0); }, 30000).unref();
`;

const UDP_SENDER = `
const dgram = require('node:dgram');
const [address, count, size] = process.argv.slice(1);
const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
let left = Number(count);
for (let seq = 0; seq < Number(count); seq++) {
  const m = Buffer.alloc(Number(size));
  m.writeUInt32BE(seq, 0);
  for (let k = 4; k < m.length; k++) m[k] = (seq * 7 + k) & 0xff;
  s.send(m, 40100, address, () => { if (--left === 0) s.close(); });
}
`;

/** Sends `count` datagrams of `size` bytes from A to B's `address` and returns what B received intact. */
async function udpBurst(j: Joined, address: string, count: number, size: number): Promise<{ got: number; bad: number }> {
  const receiver = run('ip', ['netns', 'exec', j.pair.nsB, process.execPath, '-e', UDP_RECEIVER, address, String(count)]);
  // Sent once the receiver's socket is bound (ss lists it).
  for (let i = 0; i < 100; i++) {
    const ss = await run('ip', ['netns', 'exec', j.pair.nsB, 'ss', '-Hun', 'sport', '= :40100']);
    if (ss.stdout.trim() !== '') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await inNs(j.pair.nsA, process.execPath, '-e', UDP_SENDER, address, String(count), String(size));
  const r = await receiver;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { got: number; bad: number };
}

for (const framing of ['ip', 'length16'] as Framing[]) {
  privilegedTest(`with '${framing}' framing, ping and a UDP burst cross the tunnel both ways, v4 and v6`, async () => {
    const batches = { toTransport: 0, toDevice: 0 };
    const j = await joined({ framing, onBatch: (_b, _d, _n, direction) => batches[direction]++ });
    try {
      const { pair } = j;
      await inNs(pair.nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '5', pair.addressB);
      await inNs(pair.nsB, 'ping', '-c', '3', '-i', '0.2', '-W', '5', pair.addressA);
      await inNs(pair.nsA, 'ping', '-6', '-c', '3', '-i', '0.2', '-W', '5', pair.addressB6);
      await inNs(pair.nsB, 'ping', '-6', '-c', '3', '-i', '0.2', '-W', '5', pair.addressA6);
      assert.deepEqual(await udpBurst(j, pair.addressB, 200, 1000), { got: 200, bad: 0 });
      const a = j.ta.stats;
      const b = j.tb.stats;
      // What one side sent is what the other took in (the links' IPv6 chatter included).
      await until(() => j.tb.stats.toDevice.packets === j.ta.stats.toTransport.packets, 'B to take all A sent');
      assert.ok(a.toTransport.packets >= 212, `A sent ${a.toTransport.packets}`);
      assert.equal(j.tb.stats.toDevice.bytes, j.ta.stats.toTransport.bytes);
      assert.equal(b.dropped.garbageBytes + a.dropped.garbageBytes, 0);
      assert.ok(batches.toTransport > 0 && batches.toDevice > 0);
    } finally {
      await j.close();
    }
  });
}

privilegedTest('over a Unix socket with length32 framing, ping crosses both ways', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tunnel-'));
  const j = await joined({ framing: 'length32' }, undefined, path.join(dir, 'tunnel.sock'));
  try {
    await inNs(j.pair.nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '5', j.pair.addressB);
    await inNs(j.pair.nsB, 'ping', '-6', '-c', '2', '-i', '0.2', '-W', '5', j.pair.addressA6);
    assert.ok(j.ta.stats.toDevice.packets >= 4 && j.tb.stats.toDevice.packets >= 4);
  } finally {
    await j.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

privilegedTest(
  'garbage written into the stream is skipped up to the next plausible header, counted, and ping goes on',
  async () => {
    const j = await joined();
    try {
      const { pair } = j;
      await inNs(pair.nsA, 'ping', '-c', '1', '-W', '5', pair.addressB);
      // Written between two of A's batches (TCP keeps the order): B resyncs.
      // A byte that is no IP version, a truncated IPv4 header, one whose checksum fails.
      j.sa.write(Buffer.concat([Buffer.alloc(37, 0xff), Buffer.from([0x45, 0x00, 0x00]), Buffer.alloc(20, 0x01)]));
      await inNs(pair.nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '5', pair.addressB);
      const s = j.tb.stats;
      assert.equal(s.dropped.garbageBytes, 60);
      assert.equal(s.resyncs, 1);
      assert.equal(j.ta.stats.dropped.garbageBytes, 0);
    } finally {
      await j.close();
    }
  },
);

privilegedTest(
  'a transport that stops reading stops the tunnel reading the device: the kernel drops, memory stays bounded',
  async () => {
    const j = await joined();
    try {
      const { pair } = j;
      await inNs(pair.nsA, 'ping', '-c', '1', '-W', '5', pair.addressB);
      // B's end stops reading: TCP's window closes, then A's socket buffers, then A's tunnel pauses.
      j.tb.transport.pause();
      j.sb.pause();
      const before = txDropped(pair.nsA, pair.deviceA);
      let maxQueued = 0;
      const watch = setInterval(() => (maxQueued = Math.max(maxQueued, j.sa.writableLength)), 1);
      try {
        for (let round = 0; round < 20 && txDropped(pair.nsA, pair.deviceA) === before; round++) {
          await inNs(pair.nsA, process.execPath, '-e', UDP_SENDER, pair.addressB, '2000', '1400');
        }
      } finally {
        clearInterval(watch);
      }
      const dropped = txDropped(pair.nsA, pair.deviceA) - before;
      assert.ok(dropped > 0, 'the kernel dropped what the paused tunnel did not read');
      // The documented bound: the transport's highWaterMark plus one batch (maxBatch 256).
      const bound = j.sa.writableHighWaterMark + 256 * (1400 + 28);
      assert.ok(maxQueued <= bound && j.sa.writableLength <= bound, `${maxQueued} queued, bound ${bound}`);
      assert.equal(j.ta.heldBytes, 0);
    } finally {
      await j.close();
    }
  },
);

/** What the process holds in Buffers and native memory, and its RSS, after a full collection. */
function memory(): { buffers: number; rss: number } {
  gc();
  const m = process.memoryUsage();
  return { buffers: m.arrayBuffers + m.external, rss: m.rss };
}

privilegedTest(
  'with a peer that reads slowly, the tunnel holds at most highWaterMark + one batch and memory stays flat',
  async () => {
    const pair = await netnsPair({}, {});
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const sa = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [[far]] = await Promise.all([accepted, once(sa, 'connect')]);
    server.close();
    const ta = tunnel(pair.a, sa);
    // The far end pauses 20 ms, reads at most 8 KiB, pauses again: far slower than the flood.
    far.pause();
    let farBytes = 0;
    const reader = setInterval(() => (farBytes += far.read(Math.min(8192, far.readableLength))?.length ?? 0), 20);
    let maxQueued = 0;
    let maxHeld = 0;
    const watch = setInterval(() => {
      maxQueued = Math.max(maxQueued, sa.writableLength);
      maxHeld = Math.max(maxHeld, ta.heldBytes);
    }, 1);
    const flood = async (rounds: number): Promise<void> => {
      for (let round = 0; round < rounds; round++) {
        await inNs(pair.nsA, process.execPath, '-e', UDP_SENDER, pair.addressB, '2000', '1400');
      }
    };
    try {
      const before = txDropped(pair.nsA, pair.deviceA);
      await flood(3);
      const warm = memory();
      await flood(9);
      const after = memory();
      assert.ok(farBytes > 0, 'the slow peer read something');
      assert.ok(txDropped(pair.nsA, pair.deviceA) > before, 'the kernel dropped what the tunnel could not pass on');
      // The documented bound: the transport's highWaterMark plus one batch (maxBatch 256).
      const bound = sa.writableHighWaterMark + 256 * (1400 + 28);
      assert.ok(maxQueued <= bound, `${maxQueued} bytes queued in the transport, bound ${bound}`);
      assert.equal(maxHeld, 0, 'the tunnel itself holds nothing toward the transport');
      const growth = `${JSON.stringify(warm)} after warm-up, ${JSON.stringify(after)} after 9 more rounds`;
      assert.ok(after.buffers <= warm.buffers * 1.1, `Buffers and native memory flat: ${growth}`);
      assert.ok(after.rss <= warm.rss * 1.1, `RSS flat within 10%: ${growth}`);
      console.log(`# slow peer read ${farBytes} bytes; at most ${maxQueued} queued (bound ${bound}); ${growth}`);
    } finally {
      clearInterval(watch);
      clearInterval(reader);
      ta.destroy();
      far.destroy();
      await pair.close();
    }
  },
);

privilegedTest('a destroyed transport closes both tunnels and leaves the devices open', async () => {
  const j = await joined();
  try {
    const closedA = once(j.ta, 'close');
    const closedB = once(j.tb, 'close');
    j.sa.destroy();
    await Promise.all([closedA, closedB]);
    assert.equal(j.ta.closed && j.tb.closed, true);
    assert.equal(j.pair.a.closed || j.pair.b.closed, false);
    assert.equal(j.sb.destroyed || j.sb.writableEnded, true);
  } finally {
    await j.close();
  }
});

privilegedTest('a closed device ends its transport, and the far tunnel closes', async () => {
  const j = await joined();
  try {
    const ended = once(j.sb, 'end');
    const closedB = once(j.tb, 'close');
    await j.pair.a.close();
    await Promise.all([ended, closedB, once(j.ta, 'close').catch(() => undefined)]);
    assert.equal(j.ta.closed, true);
    assert.equal(j.pair.b.closed, false);
  } finally {
    await j.close();
  }
});

privilegedTest('tunnel() checks its arguments', async () => {
  const dev = await TunDevice.open({ name: uniqueName('tna'), packetInfo: true });
  const [x, y] = [new net.Socket(), new net.Socket()];
  try {
    assert.throws(() => tunnel({} as TunDevice, x), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => tunnel(dev, {} as net.Socket), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => tunnel(dev, x), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => tunnel(dev, x, { framing: 'cobs' as Framing }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => tunnel(dev, x, { framing: 'length16', maxPacketSize: 70000 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => tunnel(dev, x, { framing: 'length16', onDeviceFull: 'wait' as 'drop' }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    const t = tunnel(dev, y, { framing: 'length32' });
    t.destroy();
    await once(t, 'close');
  } finally {
    x.destroy();
    await dev.close();
  }
});

privilegedTest('an onBatch hook that zeroes a length drops that packet, counted as filtered', async () => {
  // Drops A's IPv4 echo requests on their way out: ping fails, and the counter says why.
  const isEchoRequest = (b: Buffer, at: number): boolean => b[at] === 0x45 && b[at + 9] === 1 && b[at + 20] === 8;
  const j = await joined({
    onBatch: (b, d, n, direction) => {
      if (direction !== 'toTransport') return;
      for (let i = 0; i < n; i++) if (isEchoRequest(b, d[2 * i])) d[2 * i + 1] = 0;
    },
  });
  try {
    const { pair } = j;
    const ping = await run('ip', ['netns', 'exec', pair.nsA, 'ping', '-c', '2', '-i', '0.2', '-W', '1', pair.addressB]);
    assert.notEqual(ping.code, 0, 'no reply');
    assert.equal(j.ta.stats.dropped.filtered, 2);
    // The rest passes: IPv6 echo requests are not what the hook looks for.
    await inNs(pair.nsA, 'ping', '-6', '-c', '2', '-i', '0.2', '-W', '5', pair.addressB6);
    assert.equal(j.ta.stats.dropped.filtered, 2);
  } finally {
    await j.close();
  }
});

privilegedTest('a bad length prefix is a framing error: the tunnel reports it and closes, the device stays open', async () => {
  const j = await joined({ framing: 'length32' });
  try {
    const failed = once(j.tb, 'error');
    j.sa.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    const [error] = (await failed) as [Error & { code: string }];
    assert.equal(error.code, 'ERR_TUNNEL_FRAMING');
    // close() of a closing tunnel resolves on its 'close' (which may come before a listener could be added).
    await j.tb.close();
    assert.equal(j.pair.b.closed, false);
  } finally {
    await j.close();
  }
});

privilegedTest('a hook that throws destroys the tunnel with its error', async () => {
  const boom = new Error('hook failed');
  const j = await joined(
    {
      onBatch: () => {
        throw boom;
      },
    },
    {},
  );
  try {
    const failed = once(j.ta, 'error');
    await run('ip', ['netns', 'exec', j.pair.nsA, 'ping', '-c', '1', '-W', '1', j.pair.addressB]);
    assert.equal((await failed)[0], boom);
    await j.ta.close();
    assert.equal(j.pair.a.closed, false);
  } finally {
    await j.close();
  }
});

for (const framing of ['ip', 'length16'] as const) {
  privilegedTest(
    `with '${framing}' framing, packets cut anywhere in the stream reach the device whole and in order`,
    async () => {
      const net4 = uniqueSubnet();
      const dev = await TunDevice.open({ name: uniqueName('tcut') });
      const socket = dgram.createSocket('udp4');
      const transport = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
      const t = tunnel(dev, transport, { framing });
      try {
        await dev.addAddress(`${net4.host(1)}/24`);
        await dev.setMtu(9000);
        await dev.up();
        socket.bind(0, net4.host(1));
        await once(socket, 'listening');
        const got: number[] = [];
        socket.on('message', (m: Buffer) => got.push(m.readUInt32BE(0)));
        // Sizes around the header and prefix lengths, and packets longer than two chunks.
        const sizes = [4, 57, 500, 1372, 6000];
        const cuts = [1, 2, 5, 19, 20, 21, 333, 1500, 2000];
        const count = 60;
        let at = 0;
        for (let group = 0; group < count; group += 10) {
          const packets = [];
          for (let i = group; i < group + 10; i++) {
            const payload = Buffer.alloc(sizes[i % sizes.length], i & 0xff);
            payload.writeUInt32BE(i, 0);
            const p = udpPacket({
              source: net4.host(2),
              destination: net4.host(1),
              sourcePort: 4000,
              destinationPort: (socket.address() as AddressInfo).port,
              payload,
            });
            packets.push(framing === 'ip' ? p : Buffer.concat([Buffer.from([p.length >> 8, p.length & 0xff]), p]));
          }
          const stream = Buffer.concat(packets);
          for (let from = 0; from < stream.length; at++) {
            const to = Math.min(stream.length, from + cuts[at % cuts.length]);
            transport.push(stream.subarray(from, to));
            from = to;
          }
          await until(() => got.length >= group + 10, `packets ${group} to ${group + 9}`, 10_000);
        }
        assert.deepEqual(
          got,
          Array.from({ length: count }, (_, i) => i),
        );
        assert.equal(t.stats.toDevice.packets, count);
        assert.equal(t.stats.dropped.garbageBytes, 0);
        assert.equal(t.heldBytes, 0);
      } finally {
        socket.close();
        t.destroy();
        await dev.close();
      }
    },
  );
}
