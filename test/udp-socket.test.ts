// The native UdpSocket under udpTunnel(): batches out with sendmmsg (more
// than one call's worth too), super-packets out as one UDP_SEGMENT send, and
// back in either as the kernel's segments or, with UDP_GRO, coalesced again.
// Plus workers terminated while their socket receives, and argument checks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import test from 'node:test';
import { GsoType, TunDevice, splitGso, udpTunnel } from '../lib';
import { native, type NativeUdpSocket } from '../lib/internal/native';
import { openFdCount, privilegedTest, run } from './helpers';
import { asBatch, asSuperPacket, checksumsValid, pattern, tcpPacket, udpPacket } from './packet-builders';

interface Received {
  payloads: Buffer[];
  segments: number[];
  headers: Buffer[];
  sources: Buffer[];
}

/** A socket on 127.0.0.1 that gathers what it receives; `until(n)` waits for n payloads. */
function receiver(options: { gro?: boolean; header?: number } = {}): {
  socket: NativeUdpSocket;
  port: number;
  got: Received;
  until(n: number): Promise<void>;
} {
  const header = options.header ?? 0;
  const { fd, port } = native.UdpSocket.open(4, '127.0.0.1', 0, 8 << 20, 0);
  const got: Received = { payloads: [], segments: [], headers: [], sources: [] };
  let wake = (): void => {};
  const socket = new native.UdpSocket(
    fd,
    65535,
    64,
    header,
    options.gro ?? false,
    (batch, d, count, headers, addresses, segments) => {
      for (let i = 0; i < count; i++) {
        got.payloads.push(Buffer.from(batch.subarray(d[2 * i], d[2 * i] + d[2 * i + 1])));
        got.segments.push(segments[i]);
        if (headers !== null) got.headers.push(Buffer.from(headers.subarray(i * header, (i + 1) * header)));
        got.sources.push(Buffer.from(addresses.subarray(28 * i, 28 * i + 28)));
      }
      wake();
    },
    () => {},
  );
  const until = async (n: number): Promise<void> => {
    while (got.payloads.length < n) await new Promise<void>((r) => (wake = r));
  };
  return { socket, port, got, until };
}

/** A socket to send from; `header`: the bytes of header it puts in front of each payload. */
function sender(header = 0): NativeUdpSocket {
  const { fd } = native.UdpSocket.open(4, '127.0.0.1', 0, 0, 8 << 20);
  return new native.UdpSocket(
    fd,
    2048,
    8,
    header,
    false,
    () => {},
    () => {},
  );
}

/** 127.0.0.1:port as the 28-byte sockaddr the native side takes. */
function peer(port: number): Buffer {
  const b = Buffer.alloc(28);
  new Uint16Array(b.buffer, b.byteOffset, 1)[0] = 2;
  b.writeUInt16BE(port, 2);
  Buffer.from([127, 0, 0, 1]).copy(b, 4);
  return b;
}

privilegedTest(
  'sendBatch sends 2500 datagrams (three sendmmsg calls) and recvmmsg batches bring them all back in order',
  async () => {
    const r = receiver();
    const s = sender();
    try {
      const n = 2500;
      const data = randomBytes(n * 64);
      const d = new Uint32Array(2 * n);
      for (let i = 0; i < n; i++) [d[2 * i], d[2 * i + 1]] = [64 * i, 1 + (i % 64)];
      assert.equal(s.sendBatch(data, d, 0, n, null, peer(r.port), null, 0), n);
      await r.until(n);
      for (let i = 0; i < n; i++) assert.deepEqual(r.got.payloads[i], data.subarray(64 * i, 64 * i + 1 + (i % 64)));
      assert.equal(r.got.sources[0].readUInt16BE(2), s.localPort, 'the source address is the sender');
    } finally {
      r.socket.close();
      s.close();
    }
  },
);

privilegedTest("headers travel in front of each payload and the peer index picks each datagram's peer", async () => {
  const r1 = receiver({ header: 4 });
  const r2 = receiver({ header: 4 });
  const s = sender(4);
  try {
    const data = Buffer.from('abcdefgh');
    const d = new Uint32Array([0, 4, 4, 4]);
    const headers = Buffer.from('HD01HD02');
    const peers = Buffer.concat([peer(r1.port), peer(r2.port)]);
    assert.equal(s.sendBatch(data, d, 0, 2, headers, peers, new Uint16Array([1, 0]), 0), 2);
    await Promise.all([r1.until(1), r2.until(1)]);
    assert.deepEqual([r2.got.headers[0].toString(), r2.got.payloads[0].toString()], ['HD01', 'abcd']);
    assert.deepEqual([r1.got.headers[0].toString(), r1.got.payloads[0].toString()], ['HD02', 'efgh']);
  } finally {
    r1.socket.close();
    r2.socket.close();
    s.close();
  }
});

privilegedTest("a super-packet sent with a segment size arrives as the kernel's segments (UDP_SEGMENT)", async () => {
  const r = receiver();
  const s = sender();
  try {
    const data = randomBytes(9500);
    assert.equal(s.sendBatch(data, new Uint32Array([0, 9500]), 0, 1, null, peer(r.port), null, 1000), 1);
    await r.until(10);
    assert.deepEqual(
      r.got.payloads.map((p) => p.length),
      [...new Array<number>(9).fill(1000), 500],
    );
    assert.deepEqual(Buffer.concat(r.got.payloads), data);
  } finally {
    r.socket.close();
    s.close();
  }
});

privilegedTest('with UDP_GRO the segments come back as one datagram and its segment size', async () => {
  const r = receiver({ gro: true });
  const s = sender();
  try {
    const data = randomBytes(9500);
    assert.equal(s.sendBatch(data, new Uint32Array([0, 9500]), 0, 1, null, peer(r.port), null, 1000), 1);
    await r.until(1);
    assert.deepEqual({ length: r.got.payloads[0].length, segment: r.got.segments[0] }, { length: 9500, segment: 1000 });
    assert.deepEqual(r.got.payloads[0], data);
  } finally {
    r.socket.close();
    s.close();
  }
});

privilegedTest('sendBatch stops at a datagram outside its buffer or its peer table and says EINVAL', async () => {
  const r = receiver();
  const s = sender();
  try {
    const data = Buffer.from('abcdefgh');
    assert.equal(s.sendBatch(data, new Uint32Array([0, 4, 6, 4]), 0, 2, null, peer(r.port), null, 0), 1);
    assert.equal(s.lastError, 22);
    assert.equal(s.sendBatch(data, new Uint32Array([0, 4, 4, 4]), 0, 2, null, peer(r.port), new Uint16Array([0, 1]), 0), 1);
    assert.equal(s.lastError, 22);
    assert.equal(
      s.sendBatch(data, new Uint32Array([0, 4]), 0, 5, null, peer(r.port), null, 0),
      1,
      'count is cut to the descriptors',
    );
    await r.until(3);
    assert.deepEqual(r.got.payloads.map(String), ['abcd', 'abcd', 'abcd']);
  } finally {
    r.socket.close();
    s.close();
  }
});

privilegedTest('sendBatch on a closed socket sends nothing and says EBADF', () => {
  const s = sender();
  s.close();
  assert.equal(s.sendBatch(Buffer.alloc(4), new Uint32Array([0, 4]), 0, 1, null, peer(9), null, 0), 0);
  assert.equal(s.lastError, 9);
});

/** [peer, payload length] runs: `times` datagrams each; laid out 16-byte aligned, not contiguous. */
function layout(runs: [peer: number, length: number, times: number][]): {
  data: Buffer;
  d: Uint32Array;
  headers: Buffer;
  index: Uint16Array;
  n: number;
} {
  const list = runs.flatMap(([p, length, times]) => new Array<[number, number]>(times).fill([p, length]));
  const n = list.length;
  const d = new Uint32Array(2 * n);
  const index = new Uint16Array(n);
  let at = 0;
  list.forEach(([p, length], i) => {
    [d[2 * i], d[2 * i + 1], index[i]] = [at, length, p];
    at += (length + 31) & ~15;
  });
  const headers = randomBytes(4 * n);
  return { data: randomBytes(at), d, headers, index, n };
}

privilegedTest(
  'coalesce: runs to one peer of one length go as UDP_SEGMENT sends; each peer gets exactly its datagrams in order',
  async () => {
    const r = [receiver({ header: 4 }), receiver({ header: 4 })];
    const s = sender(4);
    try {
      // GSO messages: 64 + (36 and a shorter 500), 2, 3 (peer 1), then 70 of 1204 bytes cut at 65507: 54 + 16.
      const runs: [number, number, number][] = [
        [0, 1000, 100],
        [0, 500, 1],
        [0, 1000, 2],
        [1, 700, 3],
        [0, 700, 1],
        [1, 300, 1],
        [1, 700, 1],
        [0, 1200, 70],
      ];
      const { data, d, headers, index, n } = layout(runs);
      const peers = Buffer.concat([peer(r[0].port), peer(r[1].port)]);
      assert.equal(s.sendBatch(data, d, 0, n, headers, peers, index, 0, true), n);
      assert.equal(s.gsoMessages, 6, 'the runs went as six UDP_SEGMENT sends');
      for (const [p, rx] of r.entries()) {
        const mine = [...index.keys()].filter((i) => index[i] === p);
        await rx.until(mine.length);
        assert.equal(rx.got.payloads.length, mine.length);
        mine.forEach((i, k) => {
          assert.deepEqual(rx.got.payloads[k], data.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]), `datagram ${i}`);
          assert.deepEqual(rx.got.headers[k], headers.subarray(4 * i, 4 * i + 4), `header ${i}`);
        });
      }
    } finally {
      for (const rx of r) rx.socket.close();
      s.close();
    }
  },
);

privilegedTest('coalesce: a run whose segments exceed the path MTU goes as plain datagrams, the next ones coalesce', async () => {
  // A veth of MTU 1000 (its peer answers no ARP): segments of 1004 bytes do not fit
  // it (EMSGSIZE), plain datagrams are fragmented as they always were.
  const r = receiver({ header: 4 });
  // Bound to any address: a packet from 127.0.0.1 may not leave by another device.
  const { fd } = native.UdpSocket.open(4, '0.0.0.0', 0, 0, 0);
  const s = new native.UdpSocket(
    fd,
    2048,
    8,
    4,
    false,
    () => {},
    () => {},
  );
  const ip = (...args: string[]) => run('ip', args);
  try {
    assert.equal((await ip('link', 'add', 'gso0', 'mtu', '1000', 'type', 'veth', 'peer', 'name', 'gso1')).code, 0);
    assert.equal((await ip('addr', 'add', '10.77.0.1/24', 'dev', 'gso0')).code, 0);
    for (const dev of ['gso0', 'gso1']) assert.equal((await ip('link', 'set', dev, 'up')).code, 0);
    const far = peer(9);
    Buffer.from([10, 77, 0, 2]).copy(far, 4);
    const big = layout([[0, 1000, 10]]);
    assert.equal(s.sendBatch(big.data, big.d, 0, 10, big.headers, far, null, 0, true), 10, 'sent, as plain datagrams');
    assert.equal(s.gsoMessages, 0);
    const { data, d, headers, n } = layout([[0, 100, 10]]);
    assert.equal(s.sendBatch(data, d, 0, n, headers, peer(r.port), null, 0, true), n);
    assert.equal(s.gsoMessages, 1, 'the next run went as one UDP_SEGMENT send');
    await r.until(n);
    for (let i = 0; i < n; i++) {
      assert.deepEqual(r.got.payloads[i], data.subarray(d[2 * i], d[2 * i] + 100));
      assert.deepEqual(r.got.headers[i], headers.subarray(4 * i, 4 * i + 4));
    }
  } finally {
    r.socket.close();
    s.close();
    await ip('link', 'del', 'gso0');
  }
});

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { native } = require(workerData.native);
const { fd, port } = native.UdpSocket.open(4, '127.0.0.1', 0, 0, 0);
let told = false;
const tell = () => { if (!told) { told = true; parentPort.postMessage('got'); } };
const s = new native.UdpSocket(fd, 2048, 64, 0, false, tell, () => {});
if (workerData.deliver) {
  // Delivery into a dup of /dev/null's fd, closed here at once: the socket's dup is its own to close.
  const out = require('node:fs').openSync('/dev/null', 'w');
  s.deliverTo(out, 2048);
  require('node:fs').closeSync(out);
  const poll = setInterval(() => { if (s.delivered[0] > 0) { clearInterval(poll); tell(); } }, 1);
}
parentPort.postMessage(port);
`;

for (const deliver of [false, true]) {
  const how = deliver ? ' into a device fd (deliverTo)' : '';
  privilegedTest(
    `workers terminated while their UdpSocket receives a flood${how} crash nothing and leave no fd open`,
    async () => {
      const fds = openFdCount();
      const flood = dgram.createSocket('udp4');
      const payload = Buffer.alloc(200);
      try {
        for (let round = 0; round < 20; round++) {
          const native = path.join(__dirname, '../lib/internal/native.js');
          const worker = new Worker(WORKER, { eval: true, workerData: { native, deliver } });
          const [port] = (await once(worker, 'message')) as [number];
          let flooding = true;
          const pump = (): void => {
            for (let i = 0; i < 32 && flooding; i++) flood.send(payload, port, '127.0.0.1');
            if (flooding) setImmediate(pump);
          };
          pump();
          await once(worker, 'message');
          await worker.terminate();
          flooding = false;
        }
      } finally {
        flood.close();
      }
      await new Promise((r) => setImmediate(r));
      assert.equal(openFdCount(), fds);
    },
  );
}

privilegedTest('udpTunnel checks its arguments before opening anything', async () => {
  const dev = await TunDevice.open();
  const fds = openFdCount();
  try {
    const peer1 = { address: '127.0.0.1', port: 1 };
    assert.throws(() => udpTunnel({} as TunDevice, { peer: peer1 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => udpTunnel(dev, {}), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => udpTunnel(dev, { peer: { address: 'x', port: 1 } }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => udpTunnel(dev, { peer: { address: '127.0.0.1', port: 0 } }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => udpTunnel(dev, { peer: peer1, header: 1.5 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => udpTunnel(dev, { peer: peer1, onOutgoing: 3 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => udpTunnel(dev, { peers: [peer1, { address: '::1', port: 2 }] }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => udpTunnel(dev, { peer: peer1, bind: { address: '::' } }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.equal(openFdCount(), fds);
    dev.readable.resume();
    assert.throws(() => udpTunnel(dev, { peer: peer1 }), { code: 'ERR_READ_SIDE_TAKEN' });
    assert.equal(openFdCount(), fds, 'the socket opened is closed again');
  } finally {
    await dev.close();
  }
});

test('segment() cuts super-packets exactly as splitGso does, with room for a header before each', () => {
  const options = Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps
  const inputs = [
    asSuperPacket(tcpPacket({ payload: pattern(9000, 3), flags: 0x18 | 0x01 | 0x80, options }), GsoType.TCPV4, 1448),
    asSuperPacket(tcpPacket({ version: 6, payload: pattern(4001, 5), seq: 0xfffff000 }), GsoType.TCPV6, 1000),
    asSuperPacket(udpPacket(4, pattern(3000, 7)), GsoType.UDP_L4, 1200),
    asSuperPacket(udpPacket(6, pattern(2400, 9)), GsoType.UDP_L4, 1200),
    asSuperPacket(tcpPacket({ payload: pattern(500, 11) }), GsoType.NONE, 0),
    Buffer.concat([Buffer.alloc(10), udpPacket(4, pattern(77, 13))]),
    Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(8), udpPacket(4, pattern(50, 1))]), // TCPV4 on UDP: malformed
    Buffer.alloc(4), // shorter than a header: malformed
  ];
  const { slab, descriptors: d } = asBatch(inputs);
  const gap = 16;
  const out = native.UdpSocket.segment(slab, d, inputs.length, gap);
  const expected = inputs.flatMap((p, g) => {
    const r = splitGso(p);
    return r.ok ? r.packets.map((packet) => ({ packet, g })) : [];
  });
  assert.equal(out.malformed, 2);
  assert.equal(out.count, expected.length);
  for (let i = 0; i < out.count; i++) {
    const start = out.descriptors[2 * i];
    assert.deepEqual(out.buffer.subarray(start, start + out.descriptors[2 * i + 1]), expected[i].packet, `segment ${i}`);
    assert.deepEqual(out.buffer.subarray(start - gap, start), Buffer.alloc(gap));
    assert.equal(out.group[i], expected[i].g);
    assert.ok(checksumsValid(expected[i].packet));
  }
});

// A child whose main thread never loads the addon: only its worker does, and
// the worker moves a received batch's memory away, then closes the socket from
// inside onData or ends by itself with the socket open (unref'd).
const ALONE = `
const { Worker } = require('node:worker_threads');
const body = \`
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { native } = require(workerData.native);
const { fd, port } = native.UdpSocket.open(4, '127.0.0.1', 0, 0, 0);
const s = new native.UdpSocket(fd, 2048, 64, 0, false, (batch, d, count) => {
  const bytes = batch.buffer;
  parentPort.postMessage({ bytes, offset: batch.byteOffset + d[0], length: d[1], count }, [bytes]);
  if (workerData.mode === 'close') s.close();
  else s.unref();
}, () => {});
const out = dgram.createSocket('udp4');
out.send(Buffer.from('moved away'), port, '127.0.0.1', () => out.close());
\`;
const worker = new Worker(body, { eval: true, workerData: JSON.parse(process.argv[1]) });
worker.on('message', (m) => console.log(JSON.stringify({ text: Buffer.from(m.bytes, m.offset, m.length).toString(), count: m.count })));
worker.on('exit', (code) => { process.exitCode = code; });
`;

for (const mode of ['close', 'end'] as const) {
  const how = mode === 'close' ? 'closes the socket from inside onData' : 'ends by itself with the socket open';
  privilegedTest(`a worker that alone loads the addon transfers a received batch away and ${how}`, async () => {
    const native = path.join(__dirname, '../lib/internal/native.js');
    const r = await run(process.execPath, ['-e', ALONE, JSON.stringify({ native, mode })]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { text: 'moved away', count: 1 });
  });
}

privilegedTest(
  'an ICMP error that makes libuv stop the poll is reported once, and the socket hears its peer after it',
  async () => {
    const { fd } = native.UdpSocket.open(4, '127.0.0.1', 0, 0, 0);
    const got: string[] = [];
    const errors: Array<[number, string]> = [];
    const s = new native.UdpSocket(
      fd,
      2048,
      64,
      0,
      false,
      (batch, d, count) => {
        for (let i = 0; i < count; i++) got.push(batch.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]).toString());
      },
      (errno, syscall) => errors.push([errno, syscall]),
    );
    // A port nobody listens on: the kernel answers port unreachable, which queues ECONNREFUSED (EPOLLERR).
    const closed = dgram.createSocket('udp4');
    closed.bind(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = closed.address().port;
    closed.close();
    const far = dgram.createSocket('udp4');
    try {
      s.connect(peer(port));
      const hello = Buffer.from('anyone?');
      assert.equal(s.sendBatch(hello, new Uint32Array([0, hello.length]), 0, 1, null, peer(port), null, 0), 1);
      for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(errors, [[os.constants.errno.ECONNREFUSED, 'recvmmsg']]);
      // The peer appears on that port: what it sends arrives, so the poll was started again.
      far.bind(port, '127.0.0.1');
      await once(far, 'listening');
      far.send('back', s.localPort, '127.0.0.1');
      for (let i = 0; i < 200 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(got, ['back']);
      assert.equal(errors.length, 1);
    } finally {
      far.close();
      s.close();
    }
  },
);
