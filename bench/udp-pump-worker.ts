// The Node side of bench/udp-forward.ts, in a process of its own so that its
// CPU is its own: packets read from a TUN device, sent over UDP to one peer.
//   node udp-pump-worker.js DEV PEER PORT MAXPACKETS tunnel|dgram
// tunnel: udpTunnel() (recvmmsg/sendmmsg natively, one JS call per batch);
// dgram: readBatches() and one socket.send() per packet, today's way.
// Prints "ready", waits for "go", runs to MAXPACKETS or SIGTERM, prints one JSON line.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TunDevice, udpTunnel } from '../lib';

async function main(): Promise<void> {
  const [name, peer, portText, maxText, mode] = process.argv.slice(2);
  const port = Number(portText);
  const max = Number(maxText);
  const dev = await TunDevice.open({ name, maxBatch: 64 });
  let packets = 0;
  let finish = (): void => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  let stop = (): Promise<void> | void => {};
  let started = false;
  if (mode === 'tunnel') {
    const tunnel = udpTunnel(dev, {
      bind: { address: '127.0.0.1' },
      peer: { address: peer, port },
      onOutgoing: ({ count }) => {
        if (started && (packets += count) >= max) finish();
      },
    });
    stop = () => tunnel.close();
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
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await done;
  const cpu = process.cpuUsage(c0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ packets, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  await stop();
  await dev.close();
  process.exit(0);
}

void main();
