// Answers ICMP echo requests (IPv4 and ICMPv6) that the kernel routes to a
// TUN device, so `ping` to any other address in the device's subnets gets
// replies: the user-space end of a point-to-point link.
//
//   node dist/examples/ping-responder.js [--name tun0] [--address 10.199.78.1/24] [--address6 fd00:199:78::1/64]
//
// Then: ping 10.199.78.2   and   ping -6 fd00:199:78::2
import { parseArgs } from 'node:util';
import { echoReply } from '../lib';
import { closeDevice, describePacket, exitOnSignal, fail, openConfigured } from './common';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: '' },
    address: { type: 'string', default: '10.199.78.1/24' },
    address6: { type: 'string', default: 'fd00:199:78::1/64' },
    quiet: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const dev = await openConfigured({ name: values.name, addresses: [values.address, values.address6] });
  let answered = 0;
  exitOnSignal(async () => {
    console.log(`Answered ${answered} echo requests`);
    await closeDevice(dev);
  });
  dev.readable.on('data', (packet: Buffer) => {
    // Everything else the kernel sends here (router solicitations, MLD reports) is left unanswered.
    const reply = echoReply(packet);
    if (reply === null) return;
    dev.writable.write(reply);
    answered++;
    if (!values.quiet) console.log(`Answered ${describePacket(packet)}`);
  });
  console.log(`Listening on ${dev.name} (${values.address}, ${values.address6}); Ctrl-C to stop`);
}

main().catch(fail);
