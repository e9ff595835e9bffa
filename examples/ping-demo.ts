// The first thing to run: open a TUN device, give it an address, ping a
// neighbour in its subnet and watch the echo requests arrive. Nobody answers
// them, so ping reports 100% loss (examples/ping-responder.ts answers).
//
//   npm run demo        (builds, then runs this in a fresh network namespace)
//   node dist/examples/ping-demo.js [--name tun1] [--address 10.199.77.1/24] [--count 4] [--interval 1]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { TunDevice } from '../lib';
import { assertSubnetIsFree, closeDevice, describePacket, exitOnSignal, fail, freeName } from './common';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'tun1' },
    address: { type: 'string', default: '10.199.77.1/24' },
    count: { type: 'string', default: '4' },
    interval: { type: 'string', default: '1' },
  },
});

async function main(): Promise<void> {
  const [local, prefix] = values.address.split('/');
  // The neighbour we ping: .2 in the same /24 (or the next address up).
  const parts = local.split('.').map(Number);
  parts[3] = parts[3] === 2 ? 3 : 2;
  const target = parts.join('.');
  await assertSubnetIsFree(values.address);

  const dev = await TunDevice.open({ name: await freeName(values.name, 'tun%d') });
  let ping: ReturnType<typeof spawn> | undefined;
  exitOnSignal(async () => {
    ping?.kill('SIGINT');
    await closeDevice(dev);
  });
  // The address brings a route for the subnet through the device once the link is up.
  await dev.addAddress(`${local}/${prefix}`);
  await dev.up();
  console.log(`Opened ${dev.name} with ${local}/${prefix}; pinging ${target}`);

  dev.readable.on('data', (packet: Buffer) => {
    console.log(`Read ${packet.length} bytes from ${dev.name}: ${describePacket(packet)}`);
  });

  // ping is only the traffic source; -W 1: wait one second, not ten, for replies that never come.
  ping = spawn('ping', ['-n', '-c', values.count, '-i', values.interval, '-W', '1', target], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  ping.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    ping?.once('error', reject);
    ping?.once('exit', resolve);
  });
  const summary = output.split('\n').filter((line) => /statistics|transmitted/.test(line));
  console.log(summary.join('\n') || `ping exited with ${code} and printed no summary`);
  await closeDevice(dev);
}

main().catch(fail);
