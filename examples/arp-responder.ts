// A made-up host on the far side of a TAP device: it answers ARP requests for
// its IPv4 address with its made-up MAC address, and ICMP echo requests sent
// in Ethernet frames to that MAC, so `ping` through the TAP device gets replies.
//
//   node dist/examples/arp-responder.js [--name tap0] [--address 10.199.80.1/24] [--host 10.199.80.2] [--mac 02:00:5e:10:00:02]
//
// Then: ping 10.199.80.2   (and `ip neigh` shows 10.199.80.2 at the made-up MAC)
import { parseArgs } from 'node:util';
import { ETHERTYPE_IPV4, arpReply, echoReply, ethernetFrame, parseEthernet } from '../lib';
import { closeDevice, describePacket, exitOnSignal, fail, openConfigured } from './common';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: '' },
    address: { type: 'string', default: '10.199.80.1/24' },
    host: { type: 'string' },
    mac: { type: 'string', default: '02:00:5e:10:00:02' },
  },
});

async function main(): Promise<void> {
  // The made-up host: .2 in the device's subnet unless --host says otherwise.
  const host = values.host ?? values.address.split('/')[0].replace(/\.\d+$/, '.2');
  const mac = values.mac;
  const dev = await openConfigured({ name: values.name, mode: 'tap', addresses: [values.address] });
  exitOnSignal(() => closeDevice(dev));
  dev.readable.on('data', (frame: Buffer) => {
    const arp = arpReply(frame, host, mac);
    if (arp !== null) {
      dev.writable.write(arp);
      console.log(`Answered ARP: ${host} is at ${mac}`);
      return;
    }
    const ethernet = parseEthernet(frame);
    // Only IPv4 sent to our MAC; IPv6 would need neighbour discovery, which this host does not speak.
    if (ethernet === null || ethernet.etherType !== ETHERTYPE_IPV4 || ethernet.destination !== mac) return;
    const reply = echoReply(ethernet.payload);
    if (reply === null) return;
    dev.writable.write(ethernetFrame({ destination: ethernet.source, source: mac, etherType: ETHERTYPE_IPV4, payload: reply }));
    console.log(`Answered ${describePacket(ethernet.payload)}`);
  });
  console.log(`Listening on ${dev.name} (${values.address}); answering for ${host} at ${mac}; Ctrl-C to stop`);
}

main().catch(fail);
