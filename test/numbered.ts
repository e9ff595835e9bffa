// Numbered UDP packets: datagrams whose 4-byte payload is a sequence number,
// sent through the kernel into a device or written to it, so a test can tell
// exactly which packets arrived, in which order, and ignore everything else
// the kernel puts on a link (IPv6 router solicitations, MLD reports).
import { createSocket } from 'node:dgram';
import { TunDevice, internetChecksum, type TunDeviceOptions } from '../lib';
import { bringUp, uniqueName, uniqueSubnet } from './helpers';

export const NUMBERED_PORT = 40_000;

export type Subnet = ReturnType<typeof uniqueSubnet>;

/** A device with an address, up; datagrams to net.host(2) are routed into it. */
export async function openUp(prefix: string, options: TunDeviceOptions = {}): Promise<{ dev: TunDevice; net: Subnet }> {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName(prefix), ...options });
  bringUp(dev.name, net);
  return { dev, net };
}

/**
 * Sends `count` UDP datagrams whose payload is their 4-byte sequence number,
 * followed (with `size` above 4) by bytes that depend on it (numberedIntact).
 */
export async function sendNumbered(dst: string, count: number, from = 0, size = 4): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (let i = from; i < from + count; i++) {
      const payload = Buffer.alloc(size);
      payload.writeUInt32BE(i);
      for (let k = 4; k < size; k++) payload[k] = (i + k) & 0xff;
      socket.send(payload, NUMBERED_PORT, dst);
    }
    // A last empty send whose callback runs after the others were handed to the kernel.
    await new Promise<void>((resolve, reject) =>
      socket.send(Buffer.alloc(0), NUMBERED_PORT + 1, dst, (e) => (e ? reject(e) : resolve())),
    );
  } finally {
    socket.close();
  }
}

/** The sequence number of a numbered packet, or -1 for anything else. */
export function sequenceOf(p: Uint8Array): number {
  if (p.length < 32 || p[0] >> 4 !== 4 || p[9] !== 17) return -1;
  const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  return b.readUInt16BE(22) === NUMBERED_PORT && b.readUInt16BE(24) === p.length - 20 ? b.readUInt32BE(28) : -1;
}

/** Whether a numbered packet's payload is what sendNumbered() put in it. */
export function numberedIntact(p: Uint8Array): boolean {
  const seq = sequenceOf(p);
  if (seq < 0) return false;
  for (let k = 4; k < p.length - 28; k++) if (p[28 + k] !== ((seq + k) & 0xff)) return false;
  return true;
}

/**
 * A numbered packet to write into the device: from net.host(2) to
 * net.host(1), the device's own address, so the kernel takes it in (and
 * counts it in the link's rx packets).
 */
export function numberedPacket(net: Subnet, seq: number): Buffer {
  const p = Buffer.alloc(32);
  p[0] = 0x45;
  p.writeUInt16BE(32, 2);
  p[8] = 64;
  p[9] = 17;
  Buffer.from(net.host(2).split('.').map(Number)).copy(p, 12);
  Buffer.from(net.host(1).split('.').map(Number)).copy(p, 16);
  p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(NUMBERED_PORT, 20);
  p.writeUInt16BE(NUMBERED_PORT, 22);
  p.writeUInt16BE(12, 24);
  p.writeUInt32BE(seq, 28);
  return p;
}
