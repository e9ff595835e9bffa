// Captures a device's packets to a pcap file that tcpdump or Wireshark reads:
// LINKTYPE_RAW (101) for a TUN device, LINKTYPE_ETHERNET (1) for a TAP device.
//
//   node dist/examples/pcap.js --output tun0.pcap [--name tun0] [--tap] [--address 10.199.81.1/24] [--count N]
//   tcpdump -r tun0.pcap -n
//
// Stops after --count packets, or on Ctrl-C; either way the file is complete.
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { PcapWriter } from '../lib';
import { closeDevice, exitOnSignal, fail, openConfigured } from './common';

const { values } = parseArgs({
  options: {
    output: { type: 'string' },
    name: { type: 'string', default: '' },
    tap: { type: 'boolean', default: false },
    address: { type: 'string', default: '10.199.81.1/24' },
    count: { type: 'string' },
  },
});

async function main(): Promise<void> {
  if (values.output === undefined) throw new Error('--output FILE is required');
  const limit = values.count === undefined ? Infinity : Number(values.count);
  const dev = await openConfigured({ name: values.name, mode: values.tap ? 'tap' : 'tun', addresses: [values.address] });
  const pcap = PcapWriter.forDevice(createWriteStream(values.output), dev);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await closeDevice(dev);
      await pcap.end();
      console.log(`Wrote ${pcap.packets} packets to ${values.output}`);
    })());
  exitOnSignal(stop);
  dev.readable.on('data', (packet: Buffer) => {
    if (pcap.packets >= limit) return;
    pcap.write(packet);
    if (pcap.packets === limit) stop().catch(fail);
  });
  console.log(`Listening on ${dev.name} (${values.address}); capturing to ${values.output}; Ctrl-C to stop`);
}

main().catch(fail);
