// Flags read back, the send buffer, classic BPF filters on TAP, and devices
// from an fd another process passed in.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { BPF, TunDevice, bpfJump, bpfStatement, type BpfInstruction } from '../lib';
import { bringUp, ip, linkStats, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { LIB, sendUdpFlows, until } from './kernel-helpers';

privilegedTest('sendBufferSize is unlimited by default and reads back what was set', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('snd'), sendBufferSize: 65536 });
  assert.equal(await dev.getSendBufferSize(), 65536);
  await dev.setSendBufferSize(1 << 20);
  assert.equal(await dev.getSendBufferSize(), 1 << 20);
  await assert.rejects(dev.setSendBufferSize(0), { code: 'ERR_OUT_OF_RANGE' });
  await using other = await TunDevice.open({ name: uniqueName('snd') });
  assert.equal(await other.getSendBufferSize(), 2 ** 31 - 1);
});

/** IPv4 UDP only: EtherType at 12, IP protocol at 14 + 9. */
const UDP_ONLY: BpfInstruction[] = [
  bpfStatement(BPF.LD | BPF.H | BPF.ABS, 12),
  bpfJump(BPF.JMP | BPF.JEQ | BPF.K, 0x0800, 0, 3),
  bpfStatement(BPF.LD | BPF.B | BPF.ABS, 23),
  bpfJump(BPF.JMP | BPF.JEQ | BPF.K, 17, 0, 1),
  bpfStatement(BPF.RET | BPF.K, 0xffff),
  bpfStatement(BPF.RET | BPF.K, 0),
];

privilegedTest('flags reads back what the device was opened with', async () => {
  await using tun = await TunDevice.open({ name: uniqueName('flg') });
  assert.deepEqual(
    { ...(await tun.getFlags()), raw: 0 },
    {
      tun: true,
      tap: false,
      noFilter: true,
      detached: false,
      multiQueue: false,
      vnetHeader: false,
      persist: false,
      napi: false,
      napiFrags: false,
      raw: 0,
    },
  );
  await using tap = await TunDevice.open({
    name: uniqueName('flg'),
    mode: 'tap',
    packetInfo: true,
    multiQueue: true,
    persist: true,
  });
  const f = await tap.getFlags();
  assert.equal(f.tap && !f.tun && f.multiQueue && f.persist && !f.detached, true);
  await tap.attachFilter(UDP_ONLY);
  assert.equal((await tap.getFlags()).noFilter, false);
  await tap.detachFilter();
  await tap.detachQueue();
  assert.equal((await tap.getFlags()).detached, true);
  await tap.attachQueue();
  assert.equal((await tap.getFlags()).detached, false);
  await tap.setPersist(false);
});

privilegedTest(
  'attachQueue() on a device with a BPF filter says the kernel left the queue detached, and how to attach it',
  async () => {
    await using tap = await TunDevice.open({ name: uniqueName('fq'), mode: 'tap', multiQueue: true });
    await tap.attachFilter(UDP_ONLY);
    await tap.detachQueue();
    await assert.rejects(tap.attachQueue(), {
      name: 'TunError',
      code: 'EBUSY',
      syscall: 'ioctl(TUNSETQUEUE)',
      message: /detachFilter\(\) before detachQueue\(\)/,
    });
    assert.equal((await tap.getFlags()).detached, true);
    assert.equal(tap.queueAttached, false);
  },
);

privilegedTest('a BPF filter on a TAP device drops all but UDP; detached, ping comes through again', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('bpf'), mode: 'tap' });
  ip('addr', 'add', `${net.host(1)}/24`, 'dev', dev.name);
  // A static neighbour: no ARP, which the filter would drop (and stall on).
  ip('neigh', 'add', net.host(2), 'lladdr', '02:00:00:00:00:02', 'dev', dev.name, 'nud', 'permanent');
  // Before the link is up, so that no IPv6 router solicitation gets in first.
  await dev.attachFilter(UDP_ONLY);
  ip('link', 'set', dev.name, 'up');
  const seen = { udp: 0, icmp: 0, other: 0 };
  dev.readable.on('data', (f: Buffer) => {
    if (f.readUInt16BE(12) === 0x0800 && f[23] === 17) seen.udp++;
    else if (f.readUInt16BE(12) === 0x0800 && f[23] === 1) seen.icmp++;
    else seen.other++;
  });
  const droppedBefore = linkStats(dev.name).tx.dropped;
  await run('ping', ['-c', '3', '-i', '0.2', '-W', '1', net.host(2)]);
  await sendUdpFlows(net.host(2), 33000, 3);
  await until(() => seen.udp === 3, '3 UDP frames');
  assert.equal(seen.icmp, 0, 'the pings were filtered out');
  assert.equal(seen.other, 0);
  assert.ok(linkStats(dev.name).tx.dropped - droppedBefore >= 3, 'filtered frames count as TX-dropped');
  await dev.detachFilter();
  await run('ping', ['-c', '2', '-i', '0.2', '-W', '1', net.host(2)]);
  await until(() => seen.icmp === 2, 'pings after detachFilter');
});

privilegedTest('attachFilter on a TUN device fails with ENOTSUP, and a bad program before any syscall', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('bpft') });
  await assert.rejects(dev.attachFilter(UDP_ONLY), { name: 'TunError', code: 'ENOTSUP', message: /mode 'tap'/ });
  await assert.rejects(dev.attachFilter([]), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(dev.attachFilter([{ code: 0x10000, jt: 0, jf: 0, k: 0 }]), { code: 'ERR_OUT_OF_RANGE' });
  await using tap = await TunDevice.open({ name: uniqueName('bpft'), mode: 'tap' });
  // Well-formed but not valid BPF (no RET): the kernel says EINVAL.
  await assert.rejects(tap.attachFilter([bpfStatement(BPF.LD | BPF.H | BPF.ABS, 12)]), { code: 'EINVAL' });
});

privilegedTest('fromFd() in a child process takes over a queue passed through stdio and answers pings', async () => {
  const net = uniqueSubnet();
  const dev = await TunDevice.open({ name: uniqueName('ffd') });
  bringUp(dev.name, net);
  const script = `
    const { TunDevice, echoReply } = require(${JSON.stringify(LIB)});
    TunDevice.fromFd(3).then((dev) => {
      console.log(JSON.stringify({ name: dev.name, mode: dev.mode, packetInfo: dev.packetInfo, index: dev.index }));
      let n = 0;
      dev.readable.on('data', (p) => {
        const reply = p[9] === 1 ? echoReply(p) : null;
        if (reply === null) return;
        dev.writable.write(reply);
        if (++n === 2) dev.close();
      });
    });`;
  // The parent never reads (its readable is paused), so the child alone does.
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit', dev.fd] });
  // Listened for now: the child may end (after its second reply) before ping does.
  const exited = once(child, 'exit') as Promise<[number]>;
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('\n'), 'the child to open the fd');
  assert.deepEqual(JSON.parse(out), { name: dev.name, mode: 'tun', packetInfo: false, index: dev.index });
  const ping = await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', net.host(2)]);
  assert.match(ping.stdout, /2 packets transmitted, 2 received/);
  const [code] = await exited;
  assert.equal(code, 0);
  await dev.close();
});

privilegedTest('fromFd() on an fd that is not a TUN queue says so', async () => {
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync('/dev/null', 'r');
  try {
    await assert.rejects(TunDevice.fromFd(fd), { name: 'TunError', code: 'ENOTTY', message: /not a TUN\/TAP file descriptor/ });
  } finally {
    closeSync(fd);
  }
  const unattached = openSync('/dev/net/tun', 'r+');
  try {
    await assert.rejects(TunDevice.fromFd(unattached), { code: 'EBADFD', message: /not attached to a device/ });
  } finally {
    closeSync(unattached);
  }
});
