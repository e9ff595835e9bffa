// Two network namespaces, each with one TUN device of ours moved into it, and
// a TCP transfer between them that goes through whatever forwarder the test
// puts between the two devices. Used by the offload tests and by the
// benchmark's forward case (bench/run.ts, bench/worker.ts). The fds stay valid after `ip link set X netns Y`:
// the device moves, the fd (opened here) keeps pointing at it.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TunDevice, type TunDeviceOptions } from '../lib';
import { uniqueName, uniqueSubnet } from './helpers';

/** Two namespaces, each holding one TUN device, addressed on one subnet. */
export interface Namespaces {
  nsA: string;
  nsB: string;
  /** The device in namespace `nsA`, at `addressA`. */
  deviceA: string;
  deviceB: string;
  addressA: string;
  addressB: string;
  /** IPv6 addresses of the same devices (no DAD, usable at once); undefined with `ipv6: false`. */
  addressA6: string | undefined;
  addressB6: string | undefined;
  /** Deletes both namespaces (and with them the devices, once their fds are closed). */
  remove(): void;
}

export interface NetnsPair extends Namespaces {
  a: TunDevice;
  b: TunDevice;
  addressA6: string;
  addressB6: string;
  /** Closes both devices and deletes both namespaces. */
  close(): Promise<void>;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Moves two existing TUN devices (opened by this process or another) into two
 * fresh namespaces, one each, with addresses on one /24 and the links up; the
 * opener's fds keep working. Undoes what it made if a step fails. `ipv6:
 * false` leaves IPv6 addresses out (for a namespace where IPv6 is off).
 */
export function namespacesAround(deviceA: string, deviceB: string, options: { ipv6?: boolean } = {}): Namespaces {
  const ipv6 = options.ipv6 ?? true;
  const net = uniqueSubnet();
  const net6 = `fd00:${net.prefix.split('.').slice(1).join(':')}::`;
  const nsA = uniqueName('nsa');
  const nsB = uniqueName('nsb');
  const made: string[] = [];
  const remove = (): void => {
    for (const ns of made.splice(0)) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    for (const [ns, dev, address, address6] of [
      [nsA, deviceA, net.host(1), `${net6}1`],
      [nsB, deviceB, net.host(2), `${net6}2`],
    ] as const) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('link', 'set', dev, 'netns', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', dev);
      if (ipv6) ip('-n', ns, 'addr', 'add', `${address6}/64`, 'dev', dev, 'nodad');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
  } catch (error) {
    remove();
    throw error;
  }
  return {
    nsA,
    nsB,
    deviceA,
    deviceB,
    addressA: net.host(1),
    addressB: net.host(2),
    addressA6: ipv6 ? `${net6}1` : undefined,
    addressB6: ipv6 ? `${net6}2` : undefined,
    remove,
  };
}

/** Opens two devices and puts them in two namespaces; everything made is undone if a step fails. */
export async function netnsPair(optionsA: TunDeviceOptions, optionsB: TunDeviceOptions): Promise<NetnsPair> {
  const devices: TunDevice[] = [];
  try {
    devices.push(await TunDevice.open({ name: uniqueName('offa'), ...optionsA }));
    devices.push(await TunDevice.open({ name: uniqueName('offb'), ...optionsB }));
    const [a, b] = devices;
    const ns = namespacesAround(a.name, b.name);
    const close = async (): Promise<void> => {
      await Promise.all(devices.map((d) => d.close()));
      ns.remove();
    };
    return { ...ns, a, b, addressA6: ns.addressA6!, addressB6: ns.addressB6!, close };
  } catch (error) {
    await Promise.all(devices.map((d) => d.close()));
    throw error;
  }
}

/** Where the bytes went and how long they took. */
export interface TransferResult {
  sentHash: string;
  receivedHash: string;
  receivedBytes: number;
  /** From the receiver's first byte to its last. */
  seconds: number;
}

const RECEIVER = `
const net = require('node:net'), crypto = require('node:crypto');
const [port, address] = process.argv.slice(1);
const server = net.createServer((socket) => {
  const hash = crypto.createHash('sha256');
  let bytes = 0, start;
  socket.on('data', (d) => { start ??= process.hrtime.bigint(); hash.update(d); bytes += d.length; });
  socket.on('end', () => {
    const seconds = Number(process.hrtime.bigint() - (start ?? 0n)) / 1e9;
    console.log(JSON.stringify({ hash: hash.digest('hex'), bytes, seconds }));
    socket.end();
    server.close();
  });
});
server.listen(Number(port), address, () => console.log('listening'));
`;

const SENDER = `
const net = require('node:net'), crypto = require('node:crypto');
const [port, address, total] = process.argv.slice(1).map((v, i) => (i === 1 ? v : Number(v)));
const hash = crypto.createHash('sha256');
// One random block, copied and stamped with a counter per chunk: randomBytes
// itself runs at about 150 MB/s here and would be what the transfer measures.
const block = crypto.randomBytes(1 << 20);
let sent = 0;
const socket = net.connect(Number(port), address, () => {
  const pump = () => {
    while (sent < total) {
      const chunk = Buffer.from(block.subarray(0, Math.min(block.length, total - sent)));
      if (chunk.length >= 4) chunk.writeUInt32BE(Math.floor(sent / block.length), 0);
      hash.update(chunk);
      sent += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
});
socket.resume();
socket.on('close', () => console.log(JSON.stringify({ hash: hash.digest('hex'), sent })));
`;

/** A child's stdout, line by line; ends when the child closes it. */
function lines(child: ReturnType<typeof spawn>): AsyncIterableIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

/**
 * Sends `bytes` random bytes over TCP (IPv4, or IPv6 with `ipv6`) from
 * namespace A to a receiver in namespace B and returns both ends' SHA-256. Fails after `timeoutMs`.
 */
export async function tcpTransfer(pair: NetnsPair, bytes: number, timeoutMs = 60_000, ipv6 = false): Promise<TransferResult> {
  const to = ipv6 ? pair.addressB6 : pair.addressB;
  const port = String(20000 + (process.pid % 20000));
  const node = process.execPath;
  const receiver = spawn('ip', ['netns', 'exec', pair.nsB, node, '-e', RECEIVER, port, to], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let sender: ReturnType<typeof spawn> | undefined;
  const timer = setTimeout(() => {
    receiver.kill();
    sender?.kill();
  }, timeoutMs);
  try {
    const fromReceiver = lines(receiver);
    const ready = await fromReceiver.next();
    if (ready.done === true || ready.value !== 'listening') throw new Error('the receiver did not start');
    sender = spawn('ip', ['netns', 'exec', pair.nsA, node, '-e', SENDER, port, to, String(bytes)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [sent, received] = await Promise.all([lines(sender).next(), fromReceiver.next()]);
    if (sent.done === true || received.done === true) throw new Error('the transfer did not finish (timed out or a side failed)');
    const s = JSON.parse(sent.value) as { hash: string };
    const r = JSON.parse(received.value) as { hash: string; bytes: number; seconds: number };
    return { sentHash: s.hash, receivedHash: r.hash, receivedBytes: r.bytes, seconds: r.seconds };
  } finally {
    clearTimeout(timer);
    if (receiver.exitCode === null) {
      receiver.kill();
      await once(receiver, 'exit');
    }
    if (sender !== undefined && sender.exitCode === null) {
      sender.kill();
      await once(sender, 'exit');
    }
  }
}

/**
 * Forwards every packet read from `from` to `to`, through `map` (which may
 * turn one packet into several, or none), pausing the reader while the writer
 * is full. Returns a function that stops forwarding.
 */
export function forward(from: TunDevice, to: TunDevice, map: (packet: Buffer) => Iterable<Buffer> = (p) => [p]): () => void {
  const onData = (packet: Buffer): void => {
    let ok = true;
    for (const out of map(packet)) ok = to.writable.write(out) && ok;
    if (!ok) {
      from.readable.pause();
      to.writable.once('drain', () => from.readable.resume());
    }
  };
  from.readable.on('data', onData);
  return () => from.readable.off('data', onData);
}
