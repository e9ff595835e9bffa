// Persistent devices and least privilege: root creates, an unprivileged
// owner uses, others are refused.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { TunDevice, TunError } from '../lib';
import { bringUp, collect, ip, ipJson, linkExists, privilegedTest, run, skipOrFail, uniqueName, uniqueSubnet } from './helpers';
import { LIB, libraryForAnyUid, openableCloneDevice, runNodeAs, uidCanRun, udpPort, unprivileged, until } from './kernel-helpers';
import { checksumsValid } from './packet-builders';

interface TunInfo {
  linkinfo: {
    info_kind: string;
    info_data: { type: string; persist: boolean; vnet_hdr: boolean; user?: string; group?: string };
  };
}

function tunInfo(name: string): TunInfo['linkinfo']['info_data'] {
  const [link] = ipJson<TunInfo>('-d', 'link', 'show', 'dev', name);
  return link.linkinfo.info_data;
}

const UID = 1000;

privilegedTest('create() leaves a persistent device with its owner and group and no fd, and delete() removes it', async () => {
  const name = await TunDevice.create({ name: uniqueName('pers'), owner: UID, group: UID });
  try {
    assert.ok(linkExists(name));
    const info = tunInfo(name);
    assert.equal(info.persist, true);
    assert.ok(info.user !== undefined && info.group !== undefined, 'ip reports an owner and a group');
    ip('link', 'set', name, 'up');
    assert.match(ip('link', 'show', 'dev', name), /NO-CARRIER/, 'no fd is attached');
  } finally {
    await TunDevice.delete(name);
  }
  assert.equal(linkExists(name), false);
});

privilegedTest('delete() finds a TAP multi-queue device without being told its mode', async () => {
  const name = await TunDevice.create({ name: uniqueName('pdel'), mode: 'tap', multiQueue: true });
  assert.equal(tunInfo(name).type, 'tap');
  await TunDevice.delete(name);
  assert.equal(linkExists(name), false);
});

privilegedTest('delete() of a device that does not exist fails with ENODEV and creates nothing', async () => {
  const name = uniqueName('pnone');
  await assert.rejects(TunDevice.delete(name), { name: 'TunError', code: 'ENODEV' });
  assert.equal(linkExists(name), false);
});

privilegedTest('delete() removes a single-queue device that is open, as ip link del does', async () => {
  const dev = await TunDevice.open({ name: uniqueName('pdopen') });
  dev.on('error', () => {});
  await TunDevice.delete(dev.name, { mode: 'tun' });
  assert.equal(linkExists(dev.name), false);
  await dev.close();
});

privilegedTest('delete() refuses a link that is not a TUN/TAP device, or not of the mode given, and leaves it', async () => {
  await assert.rejects(TunDevice.delete('lo'), { name: 'TunError', code: 'EINVAL', message: /not a TUN\/TAP device/ });
  assert.ok(linkExists('lo'));
  const tun = await TunDevice.create({ name: uniqueName('pdmode') });
  try {
    await assert.rejects(TunDevice.delete(tun, { mode: 'tap' }), { code: 'EINVAL', message: /is a tun device/ });
    assert.ok(linkExists(tun));
  } finally {
    await TunDevice.delete(tun);
  }
});

privilegedTest(
  'a persistent device re-opened without offload has its offloads cleared: UDP checksums come complete',
  async () => {
    const name = uniqueName('poff');
    const first = await TunDevice.open({ name, persist: true, offload: true });
    await first.close();
    const dev = await TunDevice.open({ name, persist: false });
    try {
      assert.equal(dev.offload, null);
      assert.equal(tunInfo(name).vnet_hdr, false);
      const net = uniqueSubnet();
      bringUp(name, net);
      const got = collect(dev.readable, 1, (p) => udpPort(p) === 34000);
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.alloc(1000, 3), 34000, net.host(2), (e) => (e ? reject(e) : resolve())),
      );
      socket.close();
      const [p] = await got;
      // With tx checksum offload left on, the kernel hands over a partial checksum.
      assert.ok(checksumsValid(p), 'the UDP checksum is complete');
    } finally {
      await dev.close();
    }
    assert.equal(linkExists(name), false);
  },
);

privilegedTest('an open with persist: true aborted while the kernel opens leaves no device behind', async () => {
  const name = uniqueName('pabort');
  const controller = new AbortController();
  const opening = TunDevice.open({ name, persist: true, signal: controller.signal });
  controller.abort();
  await assert.rejects(opening, { name: 'AbortError' });
  // The kernel made the device; the late fd is closed once the open returns.
  await until(() => !linkExists(name), `'${name}' to go`);
});

privilegedTest('an open with persist: true that fails after the kernel made the device leaves none', async () => {
  const name = uniqueName('pfail');
  await assert.rejects(TunDevice.open({ name, persist: true, readerThread: { cpu: 1000 } }), {
    code: 'EINVAL',
    syscall: 'sched_setaffinity',
  });
  assert.equal(linkExists(name), false);
});

privilegedTest('a create() refused after the kernel attached it leaves the device as it was, not persistent', async () => {
  const name = uniqueName('pmq');
  const queue = await TunDevice.open({ name, multiQueue: true, offload: true });
  try {
    await assert.rejects(TunDevice.create({ name, multiQueue: true }), { code: 'EINVAL', message: /virtio_net_hdr/ });
    assert.equal(tunInfo(name).persist, false);
  } finally {
    await queue.close();
  }
  assert.equal(linkExists(name), false);
});

privilegedTest('a failed open of an existing persistent device leaves it persistent', async () => {
  const name = await TunDevice.create({ name: uniqueName('pkeep') });
  try {
    await assert.rejects(TunDevice.open({ name, persist: true, readerThread: { cpu: 1000 } }), { code: 'EINVAL' });
    assert.equal(tunInfo(name).persist, true);
  } finally {
    await TunDevice.delete(name);
  }
});

privilegedTest('setPersist(false) on an open persistent device makes close() delete it', async () => {
  const name = await TunDevice.create({ name: uniqueName('punp') });
  const dev = await TunDevice.open({ name });
  assert.equal((await dev.getFlags()).persist, true);
  await dev.setPersist(false);
  assert.equal((await dev.getFlags()).persist, false);
  await dev.close();
  assert.equal(linkExists(name), false);
});

privilegedTest('the owner uid opens the persistent device without any capability and moves packets', async (t) => {
  using copy = libraryForAnyUid();
  if (!uidCanRun(UID, copy)) return skipOrFail(t, `uid ${UID} cannot run node`);
  const clone = openableCloneDevice();
  const net = uniqueSubnet();
  const name = await TunDevice.create({ name: uniqueName('pown'), owner: UID });
  try {
    bringUp(name, net);
    // The child answers two pings, then leaves; it has no CAP_NET_ADMIN.
    const script = `
      const { TunDevice, echoReply } = require(${JSON.stringify(copy.lib)});
      (async () => {
        const dev = await TunDevice.open({ name: ${JSON.stringify(name)}, path: ${JSON.stringify(clone.path)} });
        console.log('ready ' + process.getuid() + ' ' + require('fs').readFileSync('/proc/self/status', 'utf8').match(/CapEff:\\s*(\\w+)/)[1]);
        let answered = 0;
        dev.readable.on('data', (p) => {
          const reply = echoReply(p);
          if (reply === null || p[9] !== 1) return;
          dev.writable.write(reply);
          if (++answered === 2) dev.close().then(() => console.log('answered ' + answered));
        });
      })().catch((e) => { console.log('error ' + e.code + ' ' + e.message); process.exitCode = 1; });`;
    let pinged: Promise<{ code: number | null; stdout: string }> | undefined;
    const child = await runNodeAs(
      unprivileged(UID),
      script,
      (line) => {
        if (line.startsWith('ready')) pinged = run('ping', ['-c', '2', '-i', '0.2', '-W', '2', net.host(2)]);
      },
      copy,
    );
    assert.match(child.stdout, new RegExp(`^ready ${UID} 0+$`, 'm'), child.stdout + child.stderr);
    assert.match(child.stdout, /^answered 2$/m);
    assert.equal(child.code, 0, child.stderr);
    assert.ok(pinged !== undefined);
    assert.match((await pinged).stdout, /2 packets transmitted, 2 received/);
  } finally {
    await TunDevice.delete(name);
    clone.dispose();
  }
});

privilegedTest('the owner deletes its persistent device without CAP_NET_ADMIN, and an open device only with it', async (t) => {
  using copy = libraryForAnyUid();
  if (!uidCanRun(UID, copy)) return skipOrFail(t, `uid ${UID} cannot run node`);
  const clone = openableCloneDevice();
  const name = await TunDevice.create({ name: uniqueName('powndel'), owner: UID });
  const held = await TunDevice.open({ name });
  held.on('error', () => {});
  try {
    const script = `
      const { TunDevice } = require(${JSON.stringify(copy.lib)});
      TunDevice.delete(${JSON.stringify(name)}, { path: ${JSON.stringify(clone.path)} })
        .then(() => console.log('deleted'), (e) => console.log(e.code));`;
    // RTM_DELLINK needs CAP_NET_ADMIN; the owner's way (attach, unpersist) needs the device free.
    assert.equal((await runNodeAs(unprivileged(UID), script, undefined, copy)).stdout.trim(), 'EBUSY');
    assert.ok(linkExists(name));
    await held.close();
    assert.equal((await runNodeAs(unprivileged(UID), script, undefined, copy)).stdout.trim(), 'deleted');
    assert.equal(linkExists(name), false);
  } finally {
    await held.close();
    if (linkExists(name)) await TunDevice.delete(name);
    clone.dispose();
  }
});

privilegedTest('another uid gets EPERM, and the message names the owner and group of persistent devices', async (t) => {
  using copy = libraryForAnyUid();
  if (!uidCanRun(UID, copy)) return skipOrFail(t, `uid ${UID} cannot run node`);
  const clone = openableCloneDevice();
  const name = await TunDevice.create({ name: uniqueName('pother'), owner: 4242, group: 4242 });
  try {
    const script = `
      const { TunDevice } = require(${JSON.stringify(copy.lib)});
      TunDevice.open({ name: ${JSON.stringify(name)}, path: ${JSON.stringify(clone.path)} })
        .then(() => console.log('opened'), (e) => console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })));`;
    const child = await runNodeAs(unprivileged(UID), script, undefined, copy);
    const error = JSON.parse(child.stdout) as { code: string; name: string; message: string };
    assert.equal(error.code, 'EPERM');
    assert.equal(error.name, 'TunError');
    assert.match(error.message, /ioctl\(TUNSETIFF\)/);
    assert.match(error.message, /persistent device whose owner/);
    assert.match(error.message, /group/);
    assert.equal(tunInfo(name).persist, true, 'the refused open changed nothing');
  } finally {
    await TunDevice.delete(name);
    clone.dispose();
  }
});

privilegedTest('a plain open without CAP_NET_ADMIN fails with EPERM that says CAP_NET_ADMIN is needed', async () => {
  const name = uniqueName('pcap');
  // Root with CAP_NET_ADMIN dropped from the bounding set: exec leaves it out of every set.
  const script = `
    const { TunDevice } = require(${JSON.stringify(LIB)});
    TunDevice.open({ name: ${JSON.stringify(name)} })
      .then(() => console.log('opened'), (e) => console.log(JSON.stringify({ code: e.code, errno: e.errno, message: e.message })));`;
  const child = await runNodeAs(['--inh-caps=-net_admin', '--bounding-set=-net_admin'], script);
  const error = JSON.parse(child.stdout) as { code: string; errno: number; message: string };
  assert.equal(error.code, 'EPERM');
  assert.equal(error.errno, -1);
  assert.match(error.message, /needs CAP_NET_ADMIN/);
  assert.equal(linkExists(name), false);
});

privilegedTest('owner and group are checked before any syscall', async () => {
  await assert.rejects(TunDevice.open({ name: uniqueName('pbad'), owner: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(TunDevice.open({ name: uniqueName('pbad'), group: 1.5 }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(TunDevice.create({ name: uniqueName('pbad'), owner: 2 ** 32 - 1 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.ok(TunError);
});
