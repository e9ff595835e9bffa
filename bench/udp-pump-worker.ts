// The Node side of bench/udp-forward.ts, in a process of its own so that its
// CPU is its own: packets read from a TUN device, sent over UDP to one peer.
//   node udp-pump-worker.js DEV PEER PORT MAXPACKETS tunnel|dgram|tunnel-in|dgram-in [FROMPORT]
// tunnel: udpTunnel() (recvmmsg/sendmmsg natively, one JS call per batch);
// dgram: readBatches() and one socket.send() per packet, today's way.
// The -in modes carry the other way: bound to PEER:PORT, datagrams from
// FROMPORT into the device (dgram-in: a writePackets() per 'message').
// Prints "ready", waits for "go", runs to MAXPACKETS or SIGTERM, prints one JSON line.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TunDevice, udpTunnel } from '../lib';

async function main(): Promise<void> {
  const [name, peer, portText, maxText, mode, fromText] = process.argv.slice(2);
  const port = Number(portText);
  const max = Number(maxText);
  const dev = await TunDevice.open({ name, maxBatch: 64 });
  let packets = 0;
  let finish = (): void => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  let stop = (): Promise<void> | void => {};
  let started = false;
  let counted = (): number => packets;
  let onGo = (): unknown => (packets = 0);
  /** Counts with `read` from "go" on, and finishes at MAXPACKETS (checked every 5 ms). */
  const countFrom = (read: () => number): NodeJS.Timeout => {
    let base = 0;
    counted = () => read() - base;
    onGo = () => (base = read());
    return setInterval(() => {
      if (started && counted() >= max) finish();
    }, 5);
  };
  if (mode === 'tunnel' || mode === 'tunnel-in') {
    // No hook: the tunnel's default path, counted from its counters (a hook would add a JS pass per batch).
    const inward = mode === 'tunnel-in';
    const ends = inward
      ? { bind: { address: peer, port }, peer: { address: peer, port: Number(fromText) } }
      : { peer: { address: peer, port } };
    const tunnel = udpTunnel(dev, ends);
    const poll = countFrom(() => (inward ? tunnel.counters.packetsIn : tunnel.counters.packetsOut));
    stop = () => {
      clearInterval(poll);
      return tunnel.close();
    };
  } else if (mode === 'dgram-in') {
    const socket = dgram.createSocket('udp4');
    socket.bind(port, peer);
    await once(socket, 'listening');
    const d = new Uint32Array(2);
    socket.on('message', (m) => {
      d[1] = m.length;
      packets += dev.writePackets(m, d, 1);
      if (started && packets >= max) finish();
    });
    stop = () => {
      socket.close();
    };
  } else {
    const socket = dgram.createSocket('udp4');
    socket.connect(port, peer);
    await once(socket, 'connect');
    // An ICMP port unreachable (the sink not bound yet) comes back as ECONNREFUSED on a connected socket.
    socket.on('error', () => {});
    dev.readBatches((slab, d, count) => {
      for (let i = 0; i < count; i++) {
        socket.send(slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]));
      }
      if (started && (packets += count) >= max) finish();
    });
    stop = () => {
      socket.close();
    };
  }
  process.on('SIGTERM', () => finish());
  console.log('ready');
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
  started = true;
  onGo();
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await done;
  const cpu = process.cpuUsage(c0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  packets = counted();
  console.log(JSON.stringify({ packets, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  await stop();
  await dev.close();
  process.exit(0);
}

void main();
