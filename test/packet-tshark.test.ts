// The packet views against Wireshark's dissector: traffic the kernel sends
// through real TUN and TAP devices (TCP SYNs with options, fragments,
// MLD with hop-by-hop headers, NDP, ARP; VLAN tags) is captured with PcapWriter,
// read by `tshark -T json`, and every field the views read is compared.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PcapWriter, TunDevice } from '../lib';
import { PacketViews, TcpFlags } from '../lib/packet';
import { ip, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';

type Fields = Map<string, string[]>;

/** Every `name: value` leaf of tshark's JSON for one packet, in order (the outer header's first). */
function flatten(node: unknown, into: Fields = new Map()): Fields {
  if (node === null || typeof node !== 'object') return into;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v === 'string') into.set(key, [...(into.get(key) ?? []), v]);
      else flatten(v, into);
    }
  }
  return into;
}

function tshark(file: string): Fields[] {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-T',
      'json',
      '--no-duplicate-keys',
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'udp.check_checksum:TRUE',
      // Each fragment as it is: the views do not reassemble.
      '-o',
      'ip.defragment:FALSE',
      '-o',
      'ipv6.defragment:FALSE',
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  return (JSON.parse(out) as Array<{ _source: { layers: unknown } }>).map((p) => flatten(p._source.layers));
}

const num = (s: string): number => (s.startsWith('0x') ? parseInt(s, 16) : Number(s));
const mac = (b: Uint8Array, at: number): string =>
  Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

/** Compares what the views read of `packet` with tshark's fields; returns the names compared. */
function compare(v: PacketViews, packet: Buffer, f: Fields, where: string, mode: 'tun' | 'tap'): string[] {
  const checked: string[] = [];
  const eq = (name: string, ours: number | string | boolean): void => {
    const theirs = f.get(name)?.[0];
    assert.notEqual(theirs, undefined, `${where}: tshark has no ${name} in ${[...f.keys()].join()}`);
    const want = typeof ours === 'number' ? num(theirs!) : typeof ours === 'boolean' ? num(theirs!) !== 0 : theirs;
    assert.equal(ours, want, `${where}: ${name}`);
    checked.push(name);
  };
  assert.ok(v.reset(packet), `${where}: ${v.reason}`);
  if (mode === 'tap') {
    eq('eth.dst', v.ethernet.destinationString());
    eq('eth.src', v.ethernet.sourceString());
    if (v.ethernet.vlanTagCount > 0) {
      eq('vlan.id', v.ethernet.vlanId);
      eq('vlan.priority', v.ethernet.vlanPriority);
      eq('vlan.etype', v.ethernet.etherType);
    } else eq('eth.type', v.ethernet.etherType);
  }
  if (f.has('arp.opcode')) {
    eq('arp.opcode', v.arp.operation);
    eq('arp.src.hw_mac', v.arp.senderMacString());
    eq('arp.src.proto_ipv4', v.arp.senderIpString());
    eq('arp.dst.proto_ipv4', v.arp.targetIpString());
    eq('arp.dst.hw_mac', v.arp.targetMacString());
  }
  const ipv = v.ip;
  if (f.has('ip.src')) {
    eq('ip.version', ipv.version);
    eq('ip.hdr_len', ipv.headerLength);
    eq('ip.len', ipv.length);
    eq('ip.id', ipv.identification);
    eq('ip.flags.df', ipv.dontFragment);
    eq('ip.flags.mf', ipv.moreFragments);
    eq('ip.frag_offset', ipv.fragmentOffset / 8); // tshark counts 8-byte units
    eq('ip.ttl', ipv.ttl);
    eq('ip.proto', ipv.protocol);
    eq('ip.src', ipv.sourceString());
    eq('ip.dst', ipv.destinationString());
    eq('ip.dsfield.dscp', ipv.dscp);
    eq('ip.dsfield.ecn', ipv.ecn);
    eq('ip.checksum.status', ipv.headerChecksumValid() ? 1 : 0);
  }
  if (f.has('ipv6.src')) {
    eq('ipv6.version', ipv.version);
    eq('ipv6.plen', ipv.length - 40);
    eq('ipv6.hlim', ipv.ttl);
    eq('ipv6.src', ipv.sourceString());
    eq('ipv6.dst', ipv.destinationString());
    eq('ipv6.flow', ipv.flowLabel);
    eq('ipv6.tclass.dscp', ipv.dscp);
    eq('ipv6.tclass.ecn', ipv.ecn);
    if (ipv.hopByHopOffset >= 0 || f.has('ipv6.hopopts.nxt')) eq('ipv6.hopopts.nxt', ipv.buffer[ipv.hopByHopOffset]);
    if (ipv.fragmentHeaderOffset >= 0) {
      eq('ipv6.fraghdr.ident', ipv.identification);
      eq('ipv6.fraghdr.more', ipv.moreFragments);
      eq('ipv6.fraghdr.offset', ipv.fragmentOffset / 8);
    } else assert.ok(!f.has('ipv6.fraghdr.ident'), `${where}: a fragment header the view missed`);
  }
  if (v.transport === 'tcp') {
    const t = v.tcp;
    eq('tcp.srcport', t.sourcePort);
    eq('tcp.dstport', t.destinationPort);
    eq('tcp.seq_raw', t.sequenceNumber);
    eq('tcp.ack_raw', t.acknowledgmentNumber);
    eq('tcp.hdr_len', t.headerLength);
    eq('tcp.flags', t.flags);
    eq('tcp.window_size_value', t.window);
    eq('tcp.len', t.payloadLength);
    eq('tcp.checksum.status', ipv.payloadChecksumValid() ? 1 : 0);
    if (t.mss !== 0 || f.has('tcp.options.mss_val')) eq('tcp.options.mss_val', t.mss);
    if (t.windowScale >= 0 || f.has('tcp.options.wscale.shift')) eq('tcp.options.wscale.shift', t.windowScale);
    assert.equal(t.sackPermitted, f.has('tcp.options.sack_perm'), `${where}: SACK permitted`);
    if (t.hasTimestamps || f.has('tcp.options.timestamp.tsval')) {
      eq('tcp.options.timestamp.tsval', t.timestampValue);
      eq('tcp.options.timestamp.tsecr', t.timestampEcho);
    }
  }
  if (v.transport === 'udp') {
    eq('udp.srcport', v.udp.sourcePort);
    eq('udp.dstport', v.udp.destinationPort);
    eq('udp.length', v.udp.length);
    eq('udp.checksum.status', ipv.payloadChecksumValid() ? 1 : 0);
  }
  if (v.transport === 'icmp') {
    const c = v.icmp;
    const p = c.version === 6 ? 'icmpv6' : 'icmp';
    eq(`${p}.type`, c.type);
    eq(`${p}.code`, c.code);
    if (!ipv.isFragment) eq(`${p}.checksum.status`, ipv.payloadChecksumValid() ? 1 : 0);
    if (c.isEchoRequest || c.isEchoReply) {
      eq(c.version === 6 ? 'icmpv6.echo.identifier' : 'icmp.ident', c.identifier);
      eq(c.version === 6 ? 'icmpv6.echo.sequence_number' : 'icmp.seq', c.sequence);
    }
    if (c.type === 135) eq('icmpv6.nd.ns.target_address', c.targetAddressString());
    if (c.type === 136) eq('icmpv6.nd.na.target_address', c.targetAddressString());
    if (c.sourceLinkLayerOffset >= 0) eq('icmpv6.opt.linkaddr', mac(packet, c.sourceLinkLayerOffset));
  }
  return checked;
}

/**
 * Opens a `mode` device with an IPv4 /24 and an IPv6 /64 (host 1; the link
 * is brought up by `traffic`), and collects what it reads until `enough`.
 */
async function capture(
  mode: 'tun' | 'tap',
  traffic: (dev: TunDevice, v4: (n: number) => string, v6: (n: number) => string) => Promise<void>,
  enough: (n: Buffer[]) => boolean,
): Promise<Buffer[]> {
  const v4 = uniqueSubnet().host;
  const prefix = `fd00:${(process.pid % 0xffff).toString(16)}:${mode === 'tun' ? 7 : 8}::`;
  const v6 = (n: number): string => `${prefix}${n}`;
  const dev = await TunDevice.open({ name: uniqueName(`v${mode}`), mode });
  ip('addr', 'add', `${v4(1)}/24`, 'dev', dev.name);
  ip('addr', 'add', `${v6(1)}/64`, 'dev', dev.name, 'nodad');
  const packets: Buffer[] = [];
  dev.readable.on('data', (p: Buffer) => packets.push(p));
  try {
    await traffic(dev, v4, v6);
    await until(() => enough(packets), 'the traffic to be captured', 15_000);
  } finally {
    await dev.close();
  }
  return packets;
}

/** Writes `packets` with PcapWriter, has tshark read them, compares every packet; returns the tshark fields compared. */
async function compareWithTshark(mode: 'tun' | 'tap', packets: Buffer[]): Promise<Set<string>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-views-'));
  try {
    const file = path.join(dir, `${mode}.pcap`);
    const pcap = PcapWriter.forDevice(createWriteStream(file), { mode });
    for (const p of packets) pcap.write(p);
    await pcap.end();
    const fields = tshark(file);
    assert.equal(fields.length, packets.length, `${mode}: tshark read every record`);
    const views = new PacketViews(mode);
    const seen = new Set<string>();
    packets.forEach((p, i) => compare(views, p, fields[i], `${mode} packet ${i + 1}`, mode).forEach((n) => seen.add(n)));
    return seen;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `frame` with an 802.1Q tag (priority 3, VLAN 5) after its addresses. */
function tagged(frame: Buffer): Buffer {
  return Buffer.concat([frame.subarray(0, 12), Buffer.from([0x81, 0x00, 0x60, 0x05]), frame.subarray(12)]);
}

/** Starts a TCP connect that nobody answers; the kernel's SYN carries MSS, SACK permitted, timestamps and window scale. */
function connectOnce(host: string): void {
  const s = net.connect({ host, port: 80 });
  s.on('error', () => {});
  setTimeout(() => s.destroy(), 1500).unref();
}

async function sendUdp(type: 'udp4' | 'udp6', host: string): Promise<void> {
  const s = dgram.createSocket(type);
  await new Promise<void>((resolve) => s.send(Buffer.alloc(100, 7), 40000, host, () => resolve()));
  s.close();
}

privilegedTest('the views read what tshark reads in TUN traffic: TCP options, IPv4 and IPv6 fragments, ICMPv6, UDP', async () => {
  const packets = await capture(
    'tun',
    async (dev, v4, v6) => {
      ip('link', 'set', dev.name, 'up');
      connectOnce(v4(2));
      connectOnce(v6(2));
      await sendUdp('udp4', v4(3));
      await sendUdp('udp6', v6(3));
      // Traffic class 0xb9: DSCP 46 (EF) and ECN 1, so DSCP and ECN are read from non-zero bits.
      await run('ping', ['-n', '-c', '1', '-W', '1', '-s', '3000', '-Q', '0xb9', v4(2)]);
      await run('ping', ['-6', '-n', '-c', '1', '-W', '1', '-s', '3000', '-Q', '0xb9', v6(2)]);
    },
    (ps) =>
      ps.filter((p) => p[0] >> 4 === 6 && p[6] === 44).length >= 3 && ps.filter((p) => p[0] >> 4 === 4 && p[9] === 6).length >= 1,
  );
  const seen = await compareWithTshark('tun', packets);
  for (const name of [
    'tcp.options.mss_val',
    'tcp.options.wscale.shift',
    'tcp.options.timestamp.tsval',
    'ip.frag_offset',
    'ipv6.fraghdr.offset',
    'udp.length',
    'icmpv6.type',
  ]) {
    assert.ok(seen.has(name), `the capture exercised ${name}`);
  }
  const views = new PacketViews('tun');
  assert.ok(
    packets.some(
      (p) => views.reset(p) && views.transport === 'tcp' && (views.tcp.flags & TcpFlags.SYN) !== 0 && views.tcp.sackPermitted,
    ),
  );
});

privilegedTest(
  'the views read what tshark reads in TAP traffic: ARP, NDP with options, MLD with hop-by-hop headers, 802.1Q VLAN tags',
  async () => {
    const kernel = await capture(
      'tap',
      async (dev, v4, v6) => {
        ip('link', 'set', dev.name, 'up');
        await Promise.all([
          run('ping', ['-n', '-c', '1', '-W', '1', v4(2)]),
          run('ping', ['-6', '-n', '-c', '1', '-W', '1', v6(2)]),
        ]);
      },
      (ps) =>
        ps.some((p) => p.readUInt16BE(12) === 0x0806) && ps.some((p) => p.readUInt16BE(12) === 0x86dd && p[14 + 40] === 135),
    );
    // This kernel has no 802.1Q support to tag frames itself: the tagged
    // frames are the kernel's own with a tag put in.
    const seen = await compareWithTshark('tap', [...kernel, ...kernel.map(tagged)]);
    for (const name of [
      'arp.opcode',
      'vlan.id',
      'ipv6.hopopts.nxt',
      'icmpv6.nd.ns.target_address',
      'icmpv6.opt.linkaddr',
      'eth.type',
    ]) {
      assert.ok(seen.has(name), `the capture exercised ${name}`);
    }
  },
);
