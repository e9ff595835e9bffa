// Every Netlink helper against the kernel, with `ip -j` as the oracle, and
// the errors the kernel gives (or that validation gives before asking it).
import assert from 'node:assert/strict';
import { Netlink, TunDevice } from '../lib';
import { bringUp, ip, ipJson, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { libraryForAnyUid, runNodeAs } from './kernel-helpers';
import { ipAddresses, ipLink } from './netlink-helpers';

privilegedTest('addAddress adds IPv4 and IPv6 addresses that ip addr shows', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nla') });
  using nl = await Netlink.open();
  await nl.addAddress(dev.name, `${net.host(1)}/24`);
  await nl.addAddress(dev.index, 'fd00:1:2::1/64');
  assert.deepEqual(ipAddresses(dev.name), [`${net.host(1)}/24`, 'fd00:1:2::1/64'].sort());
});

privilegedTest('addresses() reads what ip addr add put there, with family, index and scope', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nlr') });
  ip('addr', 'add', `${net.host(7)}/28`, 'dev', dev.name);
  ip('addr', 'add', 'fd00:7::7/80', 'dev', dev.name);
  using nl = await Netlink.open();
  const got = await nl.addresses(dev.name);
  assert.deepEqual(got.map((a) => `${a.address}/${a.prefixLength}`).sort(), ipAddresses(dev.name));
  const v4 = got.find((a) => a.family === 4);
  assert.deepEqual({ index: v4?.index, scope: v4?.scope }, { index: dev.index, scope: 'global' });
  assert.equal(got.find((a) => a.family === 6)?.address, 'fd00:7::7');
  const all = await nl.addresses();
  assert.ok(
    all.some((a) => a.address === '127.0.0.1' && a.scope === 'host'),
    'loopback is in the unfiltered list',
  );
});

privilegedTest('removeAddress removes exactly the named address', async () => {
  const a = uniqueSubnet();
  const b = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nlx') });
  using nl = await Netlink.open();
  await nl.addAddress(dev.name, `${a.host(1)}/24`);
  await nl.addAddress(dev.name, `${b.host(1)}/24`);
  await nl.removeAddress(dev.name, `${a.host(1)}/24`);
  assert.deepEqual(ipAddresses(dev.name), [`${b.host(1)}/24`]);
});

privilegedTest('removing a primary IPv4 address also removes its secondaries (the kernel default)', async () => {
  // net.ipv4.conf.<dev>.promote_secondaries=0: the kernel drops the whole subnet.
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nly') });
  using nl = await Netlink.open();
  await nl.addAddress(dev.name, `${net.host(1)}/24`);
  await nl.addAddress(dev.name, `${net.host(2)}/24`);
  assert.deepEqual(
    (await nl.addresses(dev.name)).map((x) => x.flags?.includes('secondary')),
    [false, true],
  );
  await nl.removeAddress(dev.name, `${net.host(1)}/24`);
  assert.deepEqual(ipAddresses(dev.name), []);
});

privilegedTest('setUp and setDown change the UP flag ip link shows', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlu') });
  using nl = await Netlink.open();
  await nl.setUp(dev.name);
  assert.ok(ipLink(dev.name).flags.includes('UP'));
  assert.equal((await nl.link(dev.name)).up, true);
  await nl.setDown(dev.index);
  assert.ok(!ipLink(dev.name).flags.includes('UP'));
  assert.equal((await nl.link(dev.index)).up, false);
});

privilegedTest('setMtu and setTxQueueLength are what ip link then reports', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlm') });
  using nl = await Netlink.open();
  await nl.setMtu(dev.name, 1280);
  await nl.setTxQueueLength(dev.name, 4321);
  const link = ipLink(dev.name);
  assert.deepEqual({ mtu: link.mtu, txqlen: link.txqlen }, { mtu: 1280, txqlen: 4321 });
  assert.equal(await dev.getMtu(), 1280);
});

privilegedTest('setMacAddress sets a TAP device hardware address', async () => {
  await using tap = await TunDevice.open({ name: uniqueName('nlt'), mode: 'tap' });
  using nl = await Netlink.open();
  await nl.setMacAddress(tap.name, '02:12:34:56:78:9A');
  assert.equal(ipLink(tap.name).address, '02:12:34:56:78:9a');
  assert.equal((await nl.link(tap.name)).mac, '02:12:34:56:78:9a');
});

privilegedTest('link() agrees with ip -j -s link on every field', async () => {
  await using tap = await TunDevice.open({ name: uniqueName('nll'), mode: 'tap' });
  using nl = await Netlink.open();
  await nl.setUp(tap.name);
  const mine = await nl.link(tap.name);
  const theirs = ipLink(tap.name);
  assert.equal(mine.index, theirs.ifindex);
  assert.equal(mine.name, theirs.ifname);
  assert.equal(mine.mtu, theirs.mtu);
  assert.equal(mine.txQueueLength, theirs.txqlen);
  assert.equal(mine.mac, theirs.address);
  assert.equal(mine.operState.toUpperCase(), theirs.operstate);
  // ip hides RUNNING and adds NO-CARRIER, neither of which is a kernel flag bit.
  assert.deepEqual(mine.flags.filter((f) => f !== 'RUNNING').sort(), theirs.flags.filter((f) => f !== 'NO-CARRIER').sort());
  assert.ok(theirs.stats64 !== undefined);
  assert.equal(mine.stats.rxPackets, theirs.stats64.rx.packets);
  assert.equal(mine.stats.txPackets, theirs.stats64.tx.packets);
  assert.equal(mine.stats.txBytes, theirs.stats64.tx.bytes);
});

privilegedTest('links() lists the same interfaces as ip link', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nls') });
  using nl = await Netlink.open();
  const mine = (await nl.links()).map((l) => `${l.index}:${l.name}`).sort();
  const theirs = ipJson<{ ifindex: number; ifname: string }>('link')
    .map((l) => `${l.ifindex}:${l.ifname}`)
    .sort();
  assert.deepEqual(mine, theirs);
  assert.ok(mine.includes(`${dev.index}:${dev.name}`));
});

interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  metric?: number;
  protocol?: string;
}

function ipRoutes(...args: string[]): IpRoute[] {
  return ipJson<IpRoute>('route', 'show', ...args);
}

privilegedTest('addRoute adds device and gateway routes, with metric and table, that ip route shows', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nlq') });
  using nl = await Netlink.open();
  await nl.addAddress(dev.name, `${net.host(1)}/24`);
  await nl.setUp(dev.name);
  await nl.addRoute('10.233.0.0/16', { device: dev.name });
  await nl.addRoute('10.234.0.0/16', { via: net.host(2), metric: 7 });
  await nl.addRoute('10.235.0.0/16', { device: dev.index, table: 1234 });
  await nl.addRoute('fd33::/48', { device: dev.name });
  const main = ipRoutes('dev', dev.name);
  assert.deepEqual(
    main.find((r) => r.dst === '10.233.0.0/16'),
    { dst: '10.233.0.0/16', scope: 'link', protocol: 'static', flags: [] },
  );
  const viaRoute = main.find((r) => r.dst === '10.234.0.0/16');
  assert.deepEqual({ gateway: viaRoute?.gateway, metric: viaRoute?.metric }, { gateway: net.host(2), metric: 7 });
  assert.deepEqual(
    ipRoutes('table', '1234').map((r) => r.dst),
    ['10.235.0.0/16'],
  );
  assert.ok(ipJson<IpRoute>('-6', 'route', 'show', 'dev', dev.name).some((r) => r.dst === 'fd33::/48'));
});

privilegedTest('routes() agrees with ip route, and sees routes ip added', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nlo') });
  using nl = await Netlink.open();
  bringUp(dev.name, net);
  ip('route', 'add', '10.236.0.0/16', 'via', net.host(9), 'metric', '3');
  const mine = await nl.routes({ family: 4, device: dev.name });
  const theirs = ipRoutes('dev', dev.name);
  assert.deepEqual(
    mine.map((r) => r.destination).sort(),
    theirs.map((r) => (r.dst.includes('/') ? r.dst : `${r.dst}/32`)).sort(),
  );
  const added = mine.find((r) => r.destination === '10.236.0.0/16');
  assert.deepEqual(
    { via: added?.via, metric: added?.metric, protocol: added?.protocol, device: added?.device },
    { via: net.host(9), metric: 3, protocol: 'boot', device: dev.index },
  );
});

privilegedTest('removeRoute removes the route, and a second remove is ESRCH', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nld') });
  using nl = await Netlink.open();
  await nl.setUp(dev.name);
  await nl.addRoute('10.237.0.0/16', { device: dev.name });
  await nl.removeRoute('10.237.0.0/16', { device: dev.name });
  assert.equal(ipRoutes('dev', dev.name).length, 0);
  await assert.rejects(nl.removeRoute('10.237.0.0/16', { device: dev.name }), { code: 'ESRCH', syscall: 'netlink RTM_DELROUTE' });
});

privilegedTest('50 concurrent addAddress calls all resolve and all addresses are present', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlc') });
  using nl = await Netlink.open();
  const wanted = Array.from({ length: 50 }, (_, i) => `10.240.${i}.1/24`);
  await Promise.all(wanted.map((cidr) => nl.addAddress(dev.index, cidr)));
  assert.deepEqual(ipAddresses(dev.name), [...wanted].sort());
  assert.equal((await nl.addresses(dev.index)).length, 50);
});

privilegedTest('adding an address twice is EEXIST with a hint, and replace: true succeeds', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nle') });
  using nl = await Netlink.open();
  await nl.addAddress(dev.name, `${net.host(1)}/24`);
  await assert.rejects(
    nl.addAddress(dev.name, `${net.host(1)}/24`),
    (e: Error & { code: string; errno: number; syscall: string }) => {
      assert.equal(e.code, 'EEXIST');
      assert.equal(e.errno, -17);
      assert.equal(e.syscall, 'netlink RTM_NEWADDR');
      assert.match(e.message, /replace: true/);
      return true;
    },
  );
  await nl.addAddress(dev.name, `${net.host(1)}/24`, { replace: true });
  assert.deepEqual(ipAddresses(dev.name), [`${net.host(1)}/24`]);
});

privilegedTest('a missing interface is ENODEV with a hint', async () => {
  using nl = await Netlink.open();
  const name = uniqueName('gone');
  await assert.rejects(nl.setUp(name), { code: 'ENODEV', syscall: 'netlink RTM_SETLINK', message: /does not exist/ });
  await assert.rejects(nl.addAddress(name, '10.241.0.1/24'), { code: 'ENODEV' });
  await assert.rejects(nl.link(2_000_000), { code: 'ENODEV' });
});

privilegedTest('removing an absent address is EADDRNOTAVAIL', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nln') });
  using nl = await Netlink.open();
  await assert.rejects(nl.removeAddress(dev.name, '10.242.0.1/24'), {
    code: 'EADDRNOTAVAIL',
    syscall: 'netlink RTM_DELADDR',
    message: /not on this interface/,
  });
});

privilegedTest('an MTU the device cannot take is the kernel EINVAL with a hint', async () => {
  // A macvlan may not exceed its lower device's MTU (1500 for a fresh veth).
  const veth = uniqueName('nlv');
  const mac = uniqueName('nlw');
  ip('link', 'add', veth, 'type', 'veth', 'peer', `${veth}p`);
  try {
    ip('link', 'add', 'link', veth, 'name', mac, 'type', 'macvlan');
    using nl = await Netlink.open();
    await assert.rejects(nl.setMtu(mac, 9000), {
      code: 'EINVAL',
      syscall: 'netlink RTM_SETLINK',
      message: /MTU is out of range/,
    });
  } finally {
    ip('link', 'del', veth);
  }
});

privilegedTest('an IPv6 address on a link with IPv6 disabled fails with a hint saying so', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nl6') });
  ip('link', 'set', dev.name, 'up');
  await run('sysctl', ['-qw', `net.ipv6.conf.${dev.name}.disable_ipv6=1`]);
  using nl = await Netlink.open();
  await assert.rejects(nl.addAddress(dev.name, 'fd00:6::1/64'), (e: Error & { code: string }) => {
    assert.ok(e.code === 'EACCES' || e.code === 'EPERM', e.code);
    assert.match(e.message, /IPv6 is disabled/);
    return true;
  });
});

privilegedTest('a TUN device has no MAC address to set, and the error says so', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlk') });
  using nl = await Netlink.open();
  await assert.rejects(nl.setMacAddress(dev.name, '02:00:00:00:00:01'), {
    syscall: 'netlink RTM_SETLINK',
    message: /TUN devices have none/,
  });
});

privilegedTest('without CAP_NET_ADMIN a change is EPERM with a hint, and reading still works', async () => {
  using copy = libraryForAnyUid();
  const script = `
    const { Netlink } = require(${JSON.stringify(copy.lib)});
    (async () => {
      const nl = await Netlink.open();
      const link = await nl.link('lo');
      try { await nl.setMtu('lo', 1400); console.log('no error'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall, message: e.message, lo: link.name })); }
      nl.close();
    })();`;
  const child = await runNodeAs(['--reuid=65534', '--regid=65534', '--clear-groups'], script, undefined, copy);
  assert.equal(child.code, 0, child.stderr);
  const result = JSON.parse(child.stdout) as { code: string; syscall: string; message: string; lo: string };
  assert.equal(result.code, 'EPERM');
  assert.equal(result.syscall, 'netlink RTM_SETLINK');
  assert.equal(result.lo, 'lo');
  assert.match(result.message, /CAP_NET_ADMIN/);
});

privilegedTest('bad arguments are rejected before anything is sent', async () => {
  using nl = await Netlink.open();
  await assert.rejects(nl.addAddress('lo', '10.0.0.300/24'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(nl.addAddress('lo', 'fd00::g/64'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(nl.addAddress('lo', '10.0.0.1/33'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(nl.addAddress('lo', 'fd00::1/129'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(nl.setMtu('lo', 67), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(nl.setMtu('lo', 65536), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(nl.setUp('a-name-that-is-too-long'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(nl.setMacAddress('lo', 'zz:00:00:00:00:00'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(nl.setTxQueueLength('lo', -1), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(nl.setTxQueueLength('lo', 2 ** 32 - 1), { code: 'ERR_OUT_OF_RANGE' }); // the kernel's int; above it EPERM would mislead
  await assert.rejects(nl.addRoute('10.33.1.0/16', { device: 'lo' }), { code: 'ERR_INVALID_ARG_VALUE', message: /host bits/ });
  await assert.rejects(nl.addRoute('10.33.0.0/16'), { code: 'ERR_INVALID_ARG_VALUE' });
  // Nothing reached the kernel: lo is as it was.
  assert.equal(ipLink('lo').mtu, 65536);
});

privilegedTest('a closed Netlink rejects requests with ERR_NETLINK_CLOSED', async () => {
  const nl = await Netlink.open();
  nl.close();
  nl.close();
  await assert.rejects(nl.links(), { code: 'ERR_NETLINK_CLOSED' });
});

privilegedTest('dumps started together on one Netlink all answer (the kernel runs one dump per socket at a time)', async () => {
  const net = uniqueSubnet();
  await using dev = await TunDevice.open({ name: uniqueName('nld') });
  ip('addr', 'add', `${net.host(1)}/24`, 'dev', dev.name);
  using nl = await Netlink.open();
  // A fresh socket's first dump comes in several parts; a second dump sent
  // before the first is read to its end would fail with EBUSY.
  const [links, addresses, routes] = await Promise.all([nl.links(), nl.addresses(), nl.routes({ table: 'all' })]);
  assert.ok(links.some((l) => l.index === dev.index));
  assert.ok(addresses.some((a) => a.address === net.host(1)));
  assert.ok(routes.length > 0);
});
