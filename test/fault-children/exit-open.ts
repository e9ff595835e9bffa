// Opens devices (single-queue, two queues of a multi-queue one, a TAP), with
// link listeners attached and writes queued, then ends the process with all
// of it open: by process.exit(0) ('exit'), or by unref()ing every device and
// letting the event loop run empty ('unref'). The parent checks it ends
// promptly with code 0.
//
//   node exit-open.js <exit|unref>
import { TunDevice, ipv4UdpPacket } from '../../lib';
import { uniqueName } from '../helpers';

const [how] = process.argv.slice(2);

async function main(): Promise<void> {
  const single = await TunDevice.open({ name: uniqueName('xs') });
  const queueName = uniqueName('xq');
  const queues = [
    await TunDevice.open({ name: queueName, multiQueue: true }),
    await TunDevice.open({ name: queueName, multiQueue: true }),
  ];
  const tap = await TunDevice.open({ name: uniqueName('xt'), mode: 'tap' });
  const devices = [single, ...queues, tap];
  await single.addAddress('10.253.1.1/24');
  await single.up();
  for (const dev of devices) {
    dev.on('error', () => {});
    dev.on('linkChange', () => {});
    dev.on('up', () => {});
    dev.on('addressAdded', () => {});
    dev.readable.resume();
  }
  // Writes that have not reached the kernel when the process ends.
  const packet = ipv4UdpPacket({
    source: '10.253.1.2',
    destination: '10.253.1.1',
    sourcePort: 9,
    destinationPort: 9,
    payload: Buffer.alloc(64),
  });
  single.writable.cork();
  for (let i = 0; i < 1000; i++) single.writable.write(packet);
  void queues[0].detachQueue(); // its writes wait while it is detached
  queues[0].writable.write(packet);
  console.log(`open ${devices.map((d) => d.name).join(' ')}`);
  if (how === 'exit') {
    setImmediate(() => process.exit(0));
  } else {
    for (const dev of devices) dev.unref();
  }
}

void main();
