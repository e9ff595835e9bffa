// The classic first TUN program: open a device and print the size of every
// packet the kernel routes to it. With --decode, also print the IP header.
//
//   node dist/examples/read-packets.js [--name tun0] [--address 10.199.79.1/24] [--tap] [--decode]
//
// Then, in another shell in the same namespace: ping 10.199.79.2
import { parseArgs } from 'node:util';
import { EthernetView } from '../lib';
import { closeDevice, decodeIpHeader, exitOnSignal, fail, openConfigured } from './common';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: '' },
    address: { type: 'string', multiple: true, default: ['10.199.79.1/24'] },
    tap: { type: 'boolean', default: false },
    decode: { type: 'boolean', default: false },
  },
});

const ETHER_TYPES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6' };
const ethernet = new EthernetView();

/** A TAP frame's IP packet (after the Ethernet header and any VLAN tags), or a note on what else it carries. */
function ipOf(frame: Buffer): Buffer | string {
  if (!ethernet.reset(frame)) return `runt frame (${ethernet.reason})`;
  const type = ethernet.etherType;
  if (type === 0x0800 || type === 0x86dd) return frame.subarray(ethernet.payloadOffset);
  return `ethertype 0x${type.toString(16).padStart(4, '0')} (${ETHER_TYPES[type] ?? 'not IP'})`;
}

async function main(): Promise<void> {
  const mode = values.tap ? 'tap' : 'tun';
  const dev = await openConfigured({ name: values.name, mode, addresses: values.address });
  exitOnSignal(() => closeDevice(dev));
  dev.readable.on('data', (packet: Buffer) => {
    console.log(`Read ${packet.length} bytes from tun/tap device`);
    if (!values.decode) return;
    const ip = mode === 'tap' ? ipOf(packet) : packet;
    console.log(`  ${typeof ip === 'string' ? ip : decodeIpHeader(ip)}`);
  });
  console.log(`Listening on ${dev.name} (${values.address.join(', ')}); Ctrl-C to stop`);
}

main().catch(fail);
