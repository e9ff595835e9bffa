// A made-up host on the far side of a TAP device: it answers ARP requests for
// its IPv4 address and IPv6 neighbour solicitations for its IPv6 address with
// its made-up MAC address, and ICMP echo requests (IPv4 and IPv6) sent to
// that MAC, so `ping` and `ping -6` through the TAP device get replies.
//
//   node dist/examples/arp-responder.js [--name tap0] [--address 10.199.80.1/24] [--host 10.199.80.2]
//        [--address6 fd00:199:80::1/64] [--host6 fd00:199:80::2] [--mac 02:00:5e:10:00:02]
//
// Then: ping 10.199.80.2  and  ping -6 fd00:199:80::2  (`ip neigh` shows the made-up MAC for both)
import { parseArgs } from 'node:util';
import { EthernetView, arpReply, echoReply, ethernetFrame, neighborReply } from '../lib';
import { closeDevice, describePacket, exitOnSignal, fail, openConfigured } from './common';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: '' },
    address: { type: 'string', default: '10.199.80.1/24' },
    host: { type: 'string' },
    address6: { type: 'string' },
    host6: { type: 'string' },
    mac: { type: 'string', default: '02:00:5e:10:00:02' },
  },
});

async function main(): Promise<void> {
  // The made-up host: .2 (or ::2) in the device's subnets unless --host/--host6 say otherwise.
  const host = values.host ?? values.address.split('/')[0].replace(/\.\d+$/, '.2');
  const host6 = values.host6 ?? values.address6?.split('/')[0].replace(/::?[0-9a-f]*$/i, '::2');
  const mac = values.mac;
  const addresses = values.address6 === undefined ? [values.address] : [values.address, values.address6];
  const dev = await openConfigured({ name: values.name, mode: 'tap', addresses });
  exitOnSignal(() => closeDevice(dev));
  const ethernet = new EthernetView();
  dev.readable.on('data', (frame: Buffer) => {
    const arp = arpReply(frame, host, mac);
    const na = host6 === undefined ? null : neighborReply(frame, host6, mac);
    if (arp !== null || na !== null) {
      dev.writable.write(arp ?? na!);
      console.log(arp !== null ? `Answered ARP: ${host} is at ${mac}` : `Answered NDP: ${host6} is at ${mac}`);
      return;
    }
    // Only IP sent to our MAC.
    if (!ethernet.reset(frame) || ethernet.destinationString() !== mac) return;
    const ip = frame.subarray(ethernet.payloadOffset);
    const reply = echoReply(ip);
    if (reply === null) return;
    dev.writable.write(
      ethernetFrame({ destination: ethernet.sourceString(), source: mac, etherType: ethernet.etherType, payload: reply }),
    );
    console.log(`Answered ${describePacket(ip)}`);
  });
  console.log(
    `Listening on ${dev.name} (${addresses.join(', ')}); ${host}${host6 === undefined ? '' : ` and ${host6}`} at ${mac}; Ctrl-C to stop`,
  );
}

main().catch(fail);
