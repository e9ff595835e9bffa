// Opening devices with offloads: the options, what the kernel then hands us,
// and what it takes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { test } from 'node:test';
import {
  OffloadNotSupportedError,
  TunDevice,
  TunError,
  VIRTIO_NET_HDR_SIZE,
  parseVirtioNetHeader,
  withVirtioNetHeader,
  echoReply,
} from '../lib';
import { bringUp, collect, ip, isIcmpEchoRequest, privilegedTest, run, skipOrFail, uniqueName, uniqueSubnet } from './helpers';

// TUN_F_USO4/USO6 came with Linux 6.2.
const [major, minor] = os.release().split('.').map(Number);
const kernelHasUso = major > 6 || (major === 6 && minor >= 2);

privilegedTest(
  'offload: true turns on checksum, TSO and (on Linux >= 6.2) USO, and reserves room for 64 KiB + header',
  async () => {
    await using dev = await TunDevice.open({ name: uniqueName('offl'), offload: true });
    assert.deepEqual(dev.offload, { checksum: true, tso: true, tsoEcn: true, uso: kernelHasUso, headerSize: 10 });
    assert.ok(dev.maxPacketSize >= 65535 + VIRTIO_NET_HDR_SIZE);
    // The kernel's own view: IFF_VNET_HDR shows as vnet_hdr in the tun details.
    const [link] = JSON.parse(ip('-j', '-d', 'link', 'show', 'dev', dev.name)) as Array<{
      linkinfo: { info_data: { vnet_hdr?: boolean } };
    }>;
    assert.equal(link.linkinfo.info_data.vnet_hdr, true);
  },
);

privilegedTest('without offload the device has no vnet header', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('offn') });
  assert.equal(dev.offload, null);
  const [link] = JSON.parse(ip('-j', '-d', 'link', 'show', 'dev', dev.name)) as Array<{
    linkinfo: { info_data: { vnet_hdr?: boolean } };
  }>;
  assert.equal(link.linkinfo.info_data.vnet_hdr, false);
});

privilegedTest('with offloads every packet read starts with a virtio_net_hdr, and replies written need one', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('offp'), offload: { tso: true } });
  bringUp(dev.name, net);
  let answered = 0;
  dev.readable.on('data', (p: Buffer) => {
    const h = parseVirtioNetHeader(p);
    const packet = p.subarray(VIRTIO_NET_HDR_SIZE);
    if (h === null || !isIcmpEchoRequest(packet)) return;
    answered++;
    dev.writable.write(withVirtioNetHeader(echoReply(packet)!));
  });
  const ping = await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', net.host(2)]);
  assert.match(ping.stdout, /3 packets transmitted, 3 received/);
  assert.equal(answered, 3);
});

privilegedTest('an echo request read with offloads has a plain header: no GSO, 84 bytes after it', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('offh'), offload: { tso: true, uso: true } });
  bringUp(dev.name, net);
  const got = collect(dev.readable, 1, (p) => isIcmpEchoRequest(p.subarray(VIRTIO_NET_HDR_SIZE)));
  await run('ping', ['-c', '1', '-W', '1', net.host(2)]);
  const [p] = await got;
  assert.equal(p.length, VIRTIO_NET_HDR_SIZE + 84);
  assert.equal(parseVirtioNetHeader(p)?.gsoType, 0);
});

test('offload options are checked before any syscall', async () => {
  await assert.rejects(TunDevice.open({ offload: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(TunDevice.open({ offload: { tso: 1 as never } }), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /options\.offload\.tso/,
  });
  await assert.rejects(TunDevice.open({ offload: { tsoEcn: true } }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /options\.offload\.tso/,
  });
});

privilegedTest(
  `asking for uso ${kernelHasUso ? 'gets it on this kernel' : 'fails with ENOTSUP on this kernel (before 6.2)'}`,
  async () => {
    const open = TunDevice.open({ name: uniqueName('offu'), offload: { uso: true } });
    if (kernelHasUso) {
      await using dev = await open;
      assert.equal(dev.offload?.uso, true);
    } else {
      await assert.rejects(open, { code: 'ENOTSUP', flag: 'TUN_F_USO4|TUN_F_USO6', option: 'uso' });
    }
  },
);

test('a refused offload flag is an ENOTSUP TunError that names the flag and the option', () => {
  const error = new OffloadNotSupportedError('TUN_F_USO4|TUN_F_USO6', 'uso', 'tun7');
  assert.ok(error instanceof TunError);
  assert.equal(error.code, 'ENOTSUP');
  assert.equal(error.errno, -95);
  assert.equal(error.syscall, 'ioctl(TUNSETOFFLOAD)');
  assert.equal(error.flag, 'TUN_F_USO4|TUN_F_USO6');
  assert.match(error.message, /TUN_F_USO4\|TUN_F_USO6/);
  assert.match(error.message, /options\.offload\.uso/);
});

/** `ethtool -k` (an implementation not ours) for the offloads TUNSETOFFLOAD turns on, or undefined without ethtool. */
function ethtoolOffloads(name: string): Record<string, boolean> | undefined {
  let out: string;
  try {
    out = execFileSync('ethtool', ['-k', name], { encoding: 'utf8' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const on = (feature: string): boolean => new RegExp(`^\\s*${feature}: on`, 'm').test(out);
  return {
    checksum: on('tx-checksum-ip-generic'),
    tso: on('tx-tcp-segmentation') && on('tx-tcp6-segmentation'),
    tsoEcn: on('tx-tcp-ecn-segmentation'),
    uso: on('tx-udp-segmentation'),
  };
}

privilegedTest('dev.offload says what ethtool sees, and a re-open without offload turns every offload off', async (t) => {
  if (ethtoolOffloads('lo') === undefined) return skipOrFail(t, 'ethtool is not installed');
  const name = uniqueName('offe');
  const first = await TunDevice.open({ name, persist: true, offload: { tso: true, uso: kernelHasUso } });
  try {
    const { checksum, tso, tsoEcn, uso } = first.offload!;
    assert.deepEqual(ethtoolOffloads(name), { checksum, tso, tsoEcn, uso });
  } finally {
    await first.close();
  }
  const plain = await TunDevice.open({ name, persist: false });
  try {
    assert.deepEqual(ethtoolOffloads(name), { checksum: false, tso: false, tsoEcn: false, uso: false });
  } finally {
    await plain.close();
  }
});
