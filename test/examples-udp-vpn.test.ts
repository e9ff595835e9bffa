// examples/udp-vpn.ts: two network namespaces joined by a veth pair, one VPN
// process in each. The namespaces and the veth are test scaffolding (made with
// ip); each VPN configures its TUN device only through the library.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
  'ping and a 4 MB TCP transfer go from one private subnet to the other through the UDP tunnel',
  async () => {
    const topo = twoNamespaces();
    const vpns = [startVpn(topo.a, topo.b), startVpn(topo.b, topo.a)];
    try {
      await Promise.all(vpns.map((v) => v.waitFor(/^Listening on /m)));
      assert.match(await pingThroughTunnel(topo.a, topo.b), /3 packets transmitted, 3 received, 0% packet loss/);
      await transferThroughTunnel(topo.a, topo.b, 4 << 20);
      for (const vpn of vpns) await vpn.assertStopsCleanlyOnSigint('tun\\d+');
      assert.match(vpns[1].stdout, /^Sent \d+ packets, received \d{4,}, dropped 0$/m, 'thousands of packets came through');
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
    } finally {
      await Promise.all(vpns.map((v) => v.kill()));
      topo.remove();
    }
  },
  { timeout: 90_000 },
);

privilegedTest(
  'a forged datagram is counted as dropped, not written, and a wrong key lets nothing through',
  async () => {
    const topo = twoNamespaces();
    const vpns = [
      startVpn(topo.a, topo.b, ['--key', randomBytes(32).toString('hex')]),
      startVpn(topo.b, topo.a, ['--key', randomBytes(32).toString('hex')]),
    ];
    try {
      await Promise.all(vpns.map((v) => v.waitFor(/^Listening on /m)));
      // A datagram shaped like a sealed packet but made without the key, sent from A's underlay address.
      const forger = ExampleProcess.script(
        `const s = require('dgram').createSocket('udp4');
       s.send(require('crypto').randomBytes(120), 5555, process.argv[1], () => { s.close(); console.log('sent'); });`,
        [topo.b.underlay],
        { netns: topo.a.ns },
      );
      await forger.waitFor(/^sent$/m);
      await vpns[1].waitFor(
        new RegExp(`^Dropped a datagram from ${topo.a.underlay}:\\d+: failed authentication \\(1 dropped\\)$`, 'm'),
      );
      // With different keys, every packet A tunnels fails at B.
      assert.match(await pingThroughTunnel(topo.a, topo.b), /3 packets transmitted, 0 received, 100% packet loss/);
      await vpns[1].assertStopsCleanlyOnSigint('tun\\d+');
      const [, received, dropped] = /^Sent \d+ packets, received (\d+), dropped (\d+)$/m.exec(vpns[1].stdout) ?? [];
      assert.equal(received, '0');
      assert.ok(Number(dropped) >= 4, `the forged datagram and 3 pings were dropped (${dropped})`);
    } finally {
      await Promise.all(vpns.map((v) => v.kill()));
      topo.remove();
    }
  },
  { timeout: 60_000 },
);

privilegedTest('without a key, a datagram from anyone but the peer is dropped', async () => {
  const topo = twoNamespaces();
  const vpn = startVpn(topo.b, topo.a);
  try {
    await vpn.waitFor(/^Listening on /m);
    const sender = ExampleProcess.script(
      `const s = require('dgram').createSocket('udp4');
       s.bind(6000, () => s.send(Buffer.from([0x45, 0, 0, 20]), 5555, process.argv[1], () => { s.close(); console.log('sent'); }));`,
      [topo.b.underlay],
      { netns: topo.a.ns },
    );
    await sender.waitFor(/^sent$/m);
    await vpn.waitFor(/: not from the peer \(1 dropped\)$/m);
  } finally {
    await vpn.kill();
    topo.remove();
  }
});
