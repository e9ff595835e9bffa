// Captures of what a device reads, whatever headers the kernel puts in front
// (packet information, virtio_net_hdr): tcpdump decodes every record.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PcapWriter,
  TunDevice,
  pcapHeaderLength,
  pcapLinkType,
  type TunDeviceOptions,
} from '../lib';
import { bringUp, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';

test('pcapLinkType and pcapHeaderLength follow the device: its mode, packetInfo and offload header', () => {
  assert.equal(pcapLinkType('tun'), LINKTYPE_RAW);
  assert.equal(pcapLinkType({ mode: 'tap', packetInfo: true }), LINKTYPE_ETHERNET);
  assert.equal(pcapHeaderLength('tun'), 0);
  assert.equal(pcapHeaderLength({ mode: 'tun', packetInfo: true }), 4);
  assert.equal(pcapHeaderLength({ mode: 'tun', offload: { headerSize: 10 } }), 10);
  assert.equal(pcapHeaderLength({ mode: 'tap', packetInfo: true, offload: { headerSize: 12 } }), 16);
  assert.equal(pcapHeaderLength({ mode: 'tun', packetInfo: false, offload: null }), 0);
});

/** Captures what a device opened with `options` reads while ping runs, and returns tcpdump's reading of it. */
async function captureOfPing(options: TunDeviceOptions): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-pcap-'));
  try {
    const net = uniqueSubnet();
    const file = path.join(dir, 'capture.pcap');
    const dev = await TunDevice.open({ name: uniqueName('pcd'), ...options });
    bringUp(dev.name, net);
    const pcap = PcapWriter.forDevice(createWriteStream(file), dev);
    const ip = pcapHeaderLength(dev); // where the IP packet starts
    let echoes = 0;
    dev.readable.on('data', (packet: Buffer) => {
      pcap.write(packet);
      if (packet[ip] >> 4 === 4 && packet[ip + 9] === 1 /* ICMP */ && packet[ip + 20] === 8 /* echo request */) echoes++;
    });
    await run('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', net.host(2)]);
    await until(() => echoes >= 2, 'the echo requests to be captured');
    await dev.close();
    await pcap.end();
    const r = await run('tcpdump', ['-r', file, '-n']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

privilegedTest('a capture of a TUN device with packetInfo decodes as IP: the 4-byte header is taken off', async () => {
  assert.match(await captureOfPing({ packetInfo: true }), /ICMP echo request/);
});

privilegedTest('a capture of a TUN device with offloads decodes as IP: the virtio_net_hdr is taken off', async () => {
  assert.match(await captureOfPing({ offload: true }), /ICMP echo request/);
});

privilegedTest('a capture of a plain TUN device is unchanged: bare IP packets', async () => {
  assert.match(await captureOfPing({}), /ICMP echo request/);
});
