// examples/udp-vpn.ts: two network namespaces joined by a veth pair, one VPN
// process in each. The namespaces and the veth are test scaffolding (made with
// ip); each VPN configures its TUN device only through the library.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { udpPacket } from '../lib/packet';
import { ExampleProcess, TCP_SINK } from './example-helpers';
import { ip, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

interface Side {
  ns: string;
  /** The veth address the VPN's UDP socket uses. */
  underlay: string;
  /** The TUN address. */
  tunnel: string;
  /** An address on lo standing for the side's private network. */
  private: string;
  privateSubnet: string;
}

interface Topology {
  a: Side;
  b: Side;
  /** Deletes both namespaces (and with them the veth pair and any TUN device). */
  remove(): void;
}

function twoNamespaces(): Topology {
  const tag = uniqueName('');
  const [underlay, tunnel, privA, privB] = [uniqueSubnet(), uniqueSubnet(), uniqueSubnet(), uniqueSubnet()];
  const side = (n: 1 | 2, priv: typeof privA): Side => ({
    ns: `tt-vpn${n}-${tag}`,
    underlay: underlay.host(n),
    tunnel: tunnel.host(n),
    private: priv.host(1),
    privateSubnet: `${priv.prefix}.0/24`,
  });
  const a = side(1, privA);
  const b = side(2, privB);
  const remove = (): void => {
    for (const ns of [a.ns, b.ns]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made
      }
    }
  };
  try {
    const veth = [`va${tag}`.slice(0, 15), `vb${tag}`.slice(0, 15)];
    ip('link', 'add', veth[0], 'type', 'veth', 'peer', 'name', veth[1]);
    [a, b].forEach((s, i) => {
      ip('netns', 'add', s.ns);
      ip('link', 'set', veth[i], 'netns', s.ns);
      ip('-n', s.ns, 'link', 'set', 'lo', 'up');
      // Strict reverse-path filtering, as many distributions ship it: the VPN's --route must satisfy it.
      // (through /proc rather than sysctl, which a fresh Debian may lack; /proc/sys/net follows the writer's namespace)
      execFileSync('ip', [
        'netns',
        'exec',
        s.ns,
        'sh',
        '-c',
        'for c in all default; do echo 1 > /proc/sys/net/ipv4/conf/$c/rp_filter; done',
      ]);
      ip('-n', s.ns, 'addr', 'add', `${s.private}/32`, 'dev', 'lo');
      ip('-n', s.ns, 'addr', 'add', `${s.underlay}/24`, 'dev', veth[i]);
      ip('-n', s.ns, 'link', 'set', veth[i], 'up');
    });
  } catch (error) {
    remove();
    throw error;
  }
  return { a, b, remove };
}

function startVpn(self: Side, peer: Side, extra: string[] = []): ExampleProcess {
  return new ExampleProcess(
    'udp-vpn',
    [
      '--address',
      `${self.tunnel}/24`,
      '--listen',
      `${self.underlay}:5555`,
      '--peer',
      `${peer.underlay}:5555`,
      '--route',
      peer.privateSubnet,
      ...extra,
    ],
    { netns: self.ns },
  );
}

// Sends argv[3] random bytes from argv[1] to argv[2]:7000, prints their count and SHA-256.
const SOURCE = `
const data = require('crypto').randomBytes(Number(process.argv[3]));
const c = require('net').connect({ host: process.argv[2], port: 7000, localAddress: process.argv[1] }, () => c.end(data));
c.on('close', () => console.log('sent ' + data.length + ' ' + require('crypto').createHash('sha256').update(data).digest('hex')));`;

async function transferThroughTunnel(from: Side, to: Side, bytes: number): Promise<void> {
  const sink = ExampleProcess.script(TCP_SINK, [to.private], { netns: to.ns });
  try {
    await sink.waitFor(/^listening$/m);
    const source = ExampleProcess.script(SOURCE, [from.private, to.private, String(bytes)], { netns: from.ns });
    const [, sent] = await source.waitFor(/^sent (\d+ [0-9a-f]{64})$/m, 60_000);
    const [, received] = await sink.waitFor(/^received (\d+ [0-9a-f]{64})$/m, 60_000);
    assert.equal(received, sent, 'the same bytes arrive, in order');
    await source.kill();
  } finally {
    await sink.kill();
  }
}

interface Counters {
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
  dropped: Record<string, number>;
  failedAuthentication: number;
}

/** Stops a VPN with Ctrl-C (it must close its device and exit 0) and reads the counters it printed. */
async function stopAndCount(vpn: ExampleProcess): Promise<Counters> {
  await vpn.assertStopsCleanlyOnSigint('tun\\d+');
  const sent = /^Sent (\d+) packets \((\d+) bytes\), received (\d+) \((\d+) bytes\)$/m.exec(vpn.stdout);
  const dropped = /^Dropped (\{.*\}), failed authentication (\d+)$/m.exec(vpn.stdout);
  assert.ok(sent !== null && dropped !== null, vpn.transcript());
  const [packetsOut, bytesOut, packetsIn, bytesIn] = sent.slice(1).map(Number);
  const failedAuthentication = Number(dropped[2]);
  return {
    packetsOut,
    bytesOut,
    packetsIn,
    bytesIn,
    dropped: JSON.parse(dropped[1]) as Record<string, number>,
    failedAuthentication,
  };
}

/** iperf3 sends `bytes` over TCP from one private address to the other; resolves with what the client reports. */
async function iperfThroughTunnel(from: Side, to: Side, bytes: number): Promise<{ sent: number; received: number }> {
  const server = ExampleProcess.program('iperf3', ['-s', '-1', '-B', to.private, '--forceflush'], { netns: to.ns });
  try {
    await server.waitFor(/Server listening/);
    const args = ['-c', to.private, '-B', from.private, '-n', String(bytes), '-J', '--connect-timeout', '5000'];
    const client = await run('ip', ['netns', 'exec', from.ns, 'iperf3', ...args]);
    assert.equal(client.code, 0, client.stdout + client.stderr);
    const result = JSON.parse(client.stdout) as { end: { sum_sent: { bytes: number }; sum_received: { bytes: number } } };
    return { sent: result.end.sum_sent.bytes, received: result.end.sum_received.bytes };
  } finally {
    await server.kill();
  }
}

async function pingThroughTunnel(from: Side, to: Side): Promise<string> {
  const ping = await run('ip', [
    'netns',
    'exec',
    from.ns,
    'ping',
    '-n',
    '-c',
    '3',
    '-i',
    '0.2',
    '-W',
    '2',
    '-I',
    from.private,
    to.private,
  ]);
  return ping.stdout;
}

privilegedTest(
  'in clear, ping goes both ways and an iperf3 TCP transfer completes through the native tunnel; counters add up',
  async () => {
    const topo = twoNamespaces();
    const vpns = [startVpn(topo.a, topo.b), startVpn(topo.b, topo.a)];
    try {
      await Promise.all(vpns.map((v) => v.waitFor(/, in clear; Ctrl-C to stop$/m)));
      assert.match(await pingThroughTunnel(topo.a, topo.b), /3 packets transmitted, 3 received, 0% packet loss/);
      assert.match(await pingThroughTunnel(topo.b, topo.a), /3 packets transmitted, 3 received, 0% packet loss/);
      const bytes = 8 << 20;
      const iperf = await iperfThroughTunnel(topo.a, topo.b, bytes);
      assert.ok(iperf.sent >= bytes && iperf.received > 0, JSON.stringify(iperf));
      const [a, b] = [await stopAndCount(vpns[0]), await stopAndCount(vpns[1])];
      // UDP may lose datagrams between the two (a full receive buffer), never make them up.
      assert.ok(b.packetsIn > 0 && b.packetsIn <= a.packetsOut, `A sent ${a.packetsOut}, B received ${b.packetsIn}`);
      assert.ok(a.packetsIn > 0 && a.packetsIn <= b.packetsOut, `B sent ${b.packetsOut}, A received ${a.packetsIn}`);
      assert.ok(b.bytesIn >= iperf.received, `what iperf3's server received crossed A to B: ${JSON.stringify({ b, iperf })}`);
      assert.ok(b.bytesIn <= a.bytesOut && a.bytesIn <= b.bytesOut);
      for (const side of [a, b]) assert.equal(side.failedAuthentication, 0);
    } finally {
      await Promise.all(vpns.map((v) => v.kill()));
      topo.remove();
    }
  },
  { timeout: 90_000 },
);

privilegedTest(
  'with --key the tunnel carries ping and a 4 MB TCP transfer sealed with ChaCha20-Poly1305',
  async () => {
    const topo = twoNamespaces();
    const key = ['--key', randomBytes(32).toString('hex')];
    const vpns = [startVpn(topo.a, topo.b, key), startVpn(topo.b, topo.a, key)];
    try {
      await Promise.all(vpns.map((v) => v.waitFor(/ChaCha20-Poly1305; Ctrl-C to stop$/m)));
      assert.match(await pingThroughTunnel(topo.b, topo.a), /3 packets transmitted, 3 received, 0% packet loss/);
      await transferThroughTunnel(topo.b, topo.a, 4 << 20);
      const a = await stopAndCount(vpns[0]);
      assert.ok(a.packetsIn > 0 && a.bytesIn >= 4 << 20, JSON.stringify(a));
      assert.equal(a.failedAuthentication, 0);
    } finally {
      await Promise.all(vpns.map((v) => v.kill()));
      topo.remove();
    }
  },
  { timeout: 90_000 },
);

privilegedTest(
  'a datagram not sealed with our key is dropped and counted, not written, and a wrong key lets nothing through',
  async () => {
    const topo = twoNamespaces();
    const vpn = startVpn(topo.b, topo.a, ['--key', randomBytes(32).toString('hex')]);
    try {
      await vpn.waitFor(/^Listening on /m);
      // From the peer's own address and port (the kernel turns away any other), made without the key.
      const forger = ExampleProcess.script(
        `const s = require('dgram').createSocket('udp4');
         s.bind(5555, process.argv[1], () => s.send(require('crypto').randomBytes(120), 5555, process.argv[2], () => { s.close(); console.log('sent'); }));`,
        [topo.a.underlay, topo.b.underlay],
        { netns: topo.a.ns },
      );
      await forger.waitFor(/^sent$/m);
      await forger.kill();
      // The peer with another key: every packet it tunnels fails at B.
      const peer = startVpn(topo.a, topo.b, ['--key', randomBytes(32).toString('hex')]);
      try {
        await peer.waitFor(/^Listening on /m);
        assert.match(await pingThroughTunnel(topo.a, topo.b), /3 packets transmitted, 0 received, 100% packet loss/);
      } finally {
        await peer.kill();
      }
      const b = await stopAndCount(vpn);
      assert.equal(b.packetsIn, 0);
      assert.ok(b.failedAuthentication >= 4, `the forged datagram and 3 pings failed (${b.failedAuthentication})`);
      assert.equal(b.dropped.hook, b.failedAuthentication, 'each was dropped by the hook, and counted');
    } finally {
      await vpn.kill();
      topo.remove();
    }
  },
  { timeout: 60_000 },
);

privilegedTest('in clear, a datagram from anyone but the peer never reaches the device; one from the peer does', async () => {
  const topo = twoNamespaces();
  const vpn = startVpn(topo.b, topo.a);
  try {
    await vpn.waitFor(/^Listening on /m);
    // A UDP packet for a closed port on B's private address: B's kernel answers with an ICMP port
    // unreachable through the tunnel, to the peer's address and port, only if the packet got in.
    const packet = udpPacket({
      source: topo.a.private,
      destination: topo.b.private,
      sourcePort: 4000,
      destinationPort: 4001,
      payload: Buffer.from('knock'),
    });
    const sender = ExampleProcess.script(
      `const dgram = require('dgram');
       const [from, to, hex] = process.argv.slice(1), packet = Buffer.from(hex, 'hex');
       const stranger = dgram.createSocket('udp4'), peer = dgram.createSocket('udp4');
       // (B's device also sends IPv6 router solicitations: only an IPv4 ICMP packet is the answer.)
       peer.on('message', (m) => { if (m[0] !== 0x45 || m[9] !== 1) return; console.log('answer ' + m.length); stranger.close(); peer.close(); });
       stranger.bind(6000, from, () => stranger.send(packet, 5555, to, () => {
         console.log('stranger sent');
         peer.bind(5555, from, () => peer.send(packet, 5555, to));
       }));`,
      [topo.a.underlay, topo.b.underlay, packet.toString('hex')],
      { netns: topo.a.ns },
    );
    try {
      await sender.waitFor(/^stranger sent$/m);
      await sender.waitFor(/^answer \d+$/m);
    } finally {
      await sender.kill();
    }
    const b = await stopAndCount(vpn);
    assert.equal(b.packetsIn, 1, "the peer's datagram only");
    assert.equal(b.bytesIn, packet.length);
    assert.ok(b.packetsOut >= 1, 'the answer went out through the tunnel');
  } finally {
    await vpn.kill();
    topo.remove();
  }
});
