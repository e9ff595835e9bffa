// examples/wireguard: our peer in one namespace, wireguard-go (Debian's, an
// implementation no one here wrote) in another, joined by a veth and nothing
// else. Keys come from `wg genkey`; wireguard-go is configured with `wg set`
// and logs verbosely, so its own log says who initiated and what it received.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { parseConfig, publicKeyOf } from '../examples/wireguard/config';
import { ExampleProcess, TCP_SINK } from './example-helpers';
import { ip, ipJson, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

const OUR_PORT = 51820;
const GO_PORT = 51821;

function wg(args: string[], input?: string, netns?: string): string {
  const argv = netns === undefined ? ['wg', ...args] : ['ip', 'netns', 'exec', netns, 'wg', ...args];
  return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', input }).trim();
}

function keyPair(): { privateKey: string; publicKey: string } {
  const privateKey = wg(['genkey']);
  return { privateKey, publicKey: wg(['pubkey'], privateKey) };
}

interface Lab {
  /** Stopped (SIGINT) by t.after, with the namespaces. */
  processes: ExampleProcess[];
  dir: string;
  /** Our namespace and wireguard-go's. */
  ours: string;
  theirs: string;
  underlay: { ours: string; theirs: string; ourVeth: string };
  tunnel: { ours: string; theirs: string; ours6: string; theirs6: string };
  keys: { ours: { privateKey: string; publicKey: string }; theirs: { privateKey: string; publicKey: string } };
  peer: ExampleProcess;
  go: ExampleProcess;
  goName: string;
  tunName: string;
}

/** What one wireguard-go needs: its namespace, interface name, key and port, and its one peer. */
interface GoSetup {
  ns: string;
  name: string;
  dir: string;
  privateKey: string;
  port: number;
  peer: string;
  endpoint: string;
  allowedIps: string;
}

/** Starts wireguard-go logging verbosely to stdout and configures it with wg set; the caller stops it. */
async function startWireguardGo(setup: GoSetup): Promise<ExampleProcess> {
  // Its UAPI socket sits in /var/run/wireguard, shared across namespaces: the name must be unique.
  const go = ExampleProcess.program(
    'env',
    ['LOG_LEVEL=verbose', 'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1', 'wireguard-go', '-f', setup.name],
    { netns: setup.ns },
  );
  try {
    await go.waitFor(/UAPI listener started/);
    // wg reads keys from files (a pipe from Node is a socket, which it cannot fopen).
    const keyFile = path.join(setup.dir, `${setup.name}.key`);
    writeFileSync(keyFile, setup.privateKey, { mode: 0o600 });
    wg(['set', setup.name, 'private-key', keyFile, 'listen-port', String(setup.port)], undefined, setup.ns);
    wg(['set', setup.name, 'peer', setup.peer, 'endpoint', setup.endpoint, 'allowed-ips', setup.allowedIps], undefined, setup.ns);
  } catch (error) {
    await go.stop('SIGINT');
    throw error;
  }
  return go;
}

interface LabOptions {
  /** Extra lines for our [Peer] section. */
  peerLines?: string[];
  /** Extra arguments for our peer. */
  args?: string[];
}

/** Two namespaces, wireguard-go in one and our peer in the other, all undone by t.after. */
async function wireguardLab(t: TestContext, options: LabOptions = {}): Promise<Lab> {
  const tag = uniqueName('');
  const ours = `tt-wgo-${tag}`;
  const theirs = `tt-wgg-${tag}`;
  const [under, inner] = [uniqueSubnet(), uniqueSubnet()];
  const inner6 = `fd00:${inner.prefix.split('.').slice(1).join(':')}::`;
  const goName = `wgg${tag}`.slice(0, 15);
  const tunName = `wgo${tag}`.slice(0, 15);
  const ourVeth = `vo${tag}`.slice(0, 15);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-wg-'));
  const processes: ExampleProcess[] = [];
  t.after(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGINT')));
    for (const ns of [ours, theirs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  ip('netns', 'add', ours);
  ip('netns', 'add', theirs);
  ip('link', 'add', ourVeth, 'type', 'veth', 'peer', 'name', `vg${tag}`.slice(0, 15));
  ip('link', 'set', ourVeth, 'netns', ours);
  ip('link', 'set', `vg${tag}`.slice(0, 15), 'netns', theirs);
  for (const [ns, veth, address] of [
    [ours, ourVeth, under.host(1)],
    [theirs, `vg${tag}`.slice(0, 15), under.host(2)],
  ]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', veth);
    ip('-n', ns, 'link', 'set', veth, 'up');
    // Nothing leaves: no default route in either namespace, checked.
    assert.deepEqual(ipJson('-n', ns, 'route', 'show', 'default'), []);
    assert.deepEqual(ipJson('-n', ns, '-6', 'route', 'show', 'default'), []);
  }
  const keys = { ours: keyPair(), theirs: keyPair() };
  const tunnel = { ours: inner.host(1), theirs: inner.host(2), ours6: `${inner6}1`, theirs6: `${inner6}2` };

  const go = await startWireguardGo({
    ns: theirs,
    name: goName,
    dir,
    privateKey: keys.theirs.privateKey,
    port: GO_PORT,
    peer: keys.ours.publicKey,
    endpoint: `${under.host(1)}:${OUR_PORT}`,
    allowedIps: `${tunnel.ours}/32,${tunnel.ours6}/128`,
  });
  processes.push(go);
  ip('-n', theirs, 'addr', 'add', `${tunnel.theirs}/24`, 'dev', goName);
  ip('-n', theirs, 'addr', 'add', `${tunnel.theirs6}/64`, 'dev', goName, 'nodad');
  ip('-n', theirs, 'link', 'set', goName, 'up');

  const config = path.join(dir, 'wg.conf');
  writeFileSync(
    config,
    [
      '[Interface]',
      `PrivateKey = ${keys.ours.privateKey}`,
      `ListenPort = ${OUR_PORT}`,
      '',
      '[Peer]',
      `PublicKey = ${keys.theirs.publicKey}`,
      `Endpoint = ${under.host(2)}:${GO_PORT}`,
      `AllowedIPs = ${tunnel.theirs}/32, ${tunnel.theirs6}/128`,
      ...(options.peerLines ?? []),
      '',
    ].join('\n'),
  );
  const peer = new ExampleProcess(
    'wireguard/main',
    [
      '--config',
      config,
      '--name',
      tunName,
      '--address',
      `${tunnel.ours}/24`,
      '--address',
      `${tunnel.ours6}/64`,
      ...(options.args ?? []),
    ],
    { netns: ours },
  );
  processes.push(peer);
  await peer.waitFor(/^Listening on /m);
  return {
    processes,
    dir,
    ours,
    theirs,
    underlay: { ours: under.host(1), theirs: under.host(2), ourVeth },
    tunnel,
    keys,
    peer,
    go,
    goName,
    tunName,
  };
}

/** Pings `to` from namespace `ns`; returns ping's summary line. */
async function ping(ns: string, to: string, count = 3): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', String(count), '-i', '0.3', '-W', '5', to]);
  return /\d+ packets transmitted.*/.exec(r.stdout)?.[0] ?? r.stdout + r.stderr;
}

async function assertPingsBothWays(lab: Lab): Promise<void> {
  for (const [ns, to] of [
    [lab.ours, lab.tunnel.theirs],
    [lab.theirs, lab.tunnel.ours],
    [lab.ours, lab.tunnel.theirs6],
    [lab.theirs, lab.tunnel.ours6],
  ]) {
    assert.match(await ping(ns, to), / 0% packet loss/, `ping ${to} from ${ns}\n${lab.peer.transcript()}`);
  }
}

test('our public key derivation matches wg pubkey, and a config reads as wg setconf writes it', () => {
  const keys = keyPair();
  assert.equal(publicKeyOf(Buffer.from(keys.privateKey, 'base64')).toString('base64'), keys.publicKey);
  const config = parseConfig(
    `[Interface]\nPrivateKey = ${keys.privateKey}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${keys.publicKey}\n` +
      'Endpoint = [fd00::2]:51821\nAllowedIPs = 10.0.0.2/32, fd00::/64\nPersistentKeepalive = 25\n',
  );
  assert.equal(config.publicKey.toString('base64'), keys.publicKey);
  assert.deepEqual(config.peers[0].endpoint, { host: 'fd00::2', port: 51821 });
  assert.equal(config.peers[0].allowedIps.length, 2);
  assert.equal(config.peers[0].persistentKeepalive, 25);
  assert.throws(() => parseConfig('[Interface]\nPrivateKey = abc\n'), /PrivateKey must be 32 bytes in base64/);
  assert.throws(() => parseConfig(`[Interface]\nPrivateKey = ${keys.privateKey}\nAddress = 10.0.0.1/24\n`), /Address is not/);
});

privilegedTest(
  'our peer initiates the handshake with wireguard-go, and ping works both ways over IPv4 and IPv6',
  async (t) => {
    const lab = await wireguardLab(t);
    await assertPingsBothWays(lab);
    assert.match(lab.peer.stdout, /^Handshake with peer \S+ completed \(we initiated\)$/m);
    assert.match(lab.go.stdout, /Received handshake initiation/);
    assert.doesNotMatch(lab.go.stdout, /Sending handshake initiation/);
    // wireguard-go's own account: a handshake time and bytes both ways.
    const [, handshakeAt] = wg(['show', lab.goName, 'latest-handshakes'], undefined, lab.theirs).split('\t');
    assert.ok(Number(handshakeAt) > 0, 'wireguard-go records the handshake');
    await lab.peer.assertStopsCleanlyOnSigint(lab.tunName);
    assert.match(lab.peer.stdout, /^Dropped 0 datagrams;/m);
  },
  { timeout: 90_000 },
);

privilegedTest(
  'wireguard-go initiates the handshake with our peer, and ping works both ways over IPv4 and IPv6',
  async (t) => {
    const lab = await wireguardLab(t);
    assert.match(await ping(lab.theirs, lab.tunnel.ours), / 0% packet loss/, lab.peer.transcript());
    await assertPingsBothWays(lab);
    assert.match(lab.peer.stdout, /^Handshake with peer \S+ completed \(it initiated\)$/m);
    assert.doesNotMatch(lab.peer.stdout, /\(we initiated\)/);
    assert.match(lab.go.stdout, /Sending handshake initiation/);
    assert.match(lab.go.stdout, /Received handshake response/);
  },
  { timeout: 90_000 },
);

/** The packets our TUN device handed to the kernel (its rx count), as ip reports them. */
function deliveredPackets(lab: Lab): number {
  const [link] = ipJson<{ stats64: { rx: { packets: number } } }>('-n', lab.ours, '-s', 'link', 'show', lab.tunName);
  return link.stats64.rx.packets;
}

/** The UDP payloads in a pcap file of Ethernet frames carrying IPv4. */
function udpPayloads(pcap: Buffer): Buffer[] {
  const payloads: Buffer[] = [];
  for (let at = 24; at + 16 <= pcap.length; at += 16 + pcap.readUInt32LE(at + 8)) {
    const ip4 = pcap.subarray(at + 16 + 14, at + 16 + pcap.readUInt32LE(at + 8));
    const udp = ip4.subarray((ip4[0] & 0x0f) * 4);
    payloads.push(udp.subarray(8, udp.readUInt16BE(4)));
  }
  return payloads;
}

// Sends each hex argument after the first (host:port) as one datagram, in order.
const SEND_DATAGRAMS = `
const [to, ...hex] = process.argv.slice(1);
const [host, port] = to.split(':');
const s = require('dgram').createSocket('udp4');
(async () => {
  for (const h of hex) await new Promise((r) => s.send(Buffer.from(h, 'hex'), Number(port), host, r));
  s.close();
  console.log('sent');
})();`;

privilegedTest(
  'replayed data and initiations, a bad tag, a bad mac1, a source outside AllowedIPs: dropped, counted, never delivered',
  async (t) => {
    const lab = await wireguardLab(t);
    // Capture wireguard-go's initiation (type 1) and one data message (type 4): an echo request.
    const file = path.join(lab.dir, 'wireguard-go.pcap');
    const capture = ExampleProcess.program(
      'sh',
      [
        '-c',
        'exec tcpdump "$@" 2>&1',
        'tcpdump',
        '-i',
        lab.underlay.ourVeth,
        '-U',
        '-c',
        '2',
        '-w',
        file,
        `udp src port ${GO_PORT} and (udp[8] = 1 or (udp[8] = 4 and greater 100))`,
      ],
      { netns: lab.ours },
    );
    lab.processes.push(capture);
    await capture.waitFor(/listening on/);
    assert.match(await ping(lab.theirs, lab.tunnel.ours, 1), / 0% packet loss/);
    assert.equal((await capture.exited).code, 0, capture.transcript());
    const [initiation, data] = udpPayloads(readFileSync(file));
    assert.deepEqual([initiation[0], initiation.length, data[0]], [1, 148, 4], 'an initiation, then a data message');

    const forgedTag = Buffer.from(data);
    forgedTag.writeUInt32LE(data.readUInt32LE(8) + 1000, 8); // a fresh counter, so the tag is what fails
    forgedTag[forgedTag.length - 1] ^= 1;
    const badMac1 = Buffer.alloc(148);
    badMac1[0] = 1;
    const before = deliveredPackets(lab);
    const sender = ExampleProcess.script(
      SEND_DATAGRAMS,
      [`${lab.underlay.ours}:${OUR_PORT}`, ...[data, forgedTag, badMac1, initiation].map((d) => d.toString('hex'))],
      { netns: lab.theirs },
    );
    lab.processes.push(sender);
    await sender.waitFor(/^sent$/m);
    const from = lab.underlay.theirs.replaceAll('.', '\\.');
    await lab.peer.waitFor(new RegExp(`^Dropped a datagram from ${from}:\\d+: a replayed counter \\(1 dropped\\)$`, 'm'));
    await lab.peer.waitFor(new RegExp(`^Dropped a datagram from ${from}:\\d+: a bad authentication tag \\(2 dropped\\)$`, 'm'));
    await lab.peer.waitFor(new RegExp(`^Dropped a datagram from ${from}:\\d+: a bad mac1 \\(3 dropped\\)$`, 'm'));
    await lab.peer.waitFor(/: a replayed initiation \(its timestamp is not newer\) \(4 dropped\)$/m);
    // An authentic packet whose inner source is outside the AllowedIPs we gave wireguard-go.
    const outside = lab.tunnel.theirs.replace(/\.\d+$/, '.3');
    ip('-n', lab.theirs, 'addr', 'add', `${outside}/32`, 'dev', lab.goName);
    const r = await run('ip', ['netns', 'exec', lab.theirs, 'ping', '-n', '-c', '1', '-W', '1', '-I', outside, lab.tunnel.ours]);
    assert.match(r.stdout, / 100% packet loss/);
    await lab.peer.waitFor(/: an inner source address outside its AllowedIPs \(5 dropped\)$/m);
    assert.equal(deliveredPackets(lab), before, 'nothing reached the device');
    // The session still works after all that.
    assert.match(await ping(lab.theirs, lab.tunnel.ours, 1), / 0% packet loss/);
    await lab.peer.assertStopsCleanlyOnSigint(lab.tunName);
    assert.match(
      lab.peer.stdout,
      /^Dropped 5 datagrams \(a replayed counter: 1, a bad authentication tag: 1, a bad mac1: 1, a replayed initiation \(its timestamp is not newer\): 1, an inner source address outside its AllowedIPs: 1\);/m,
    );
  },
  { timeout: 90_000 },
);

privilegedTest(
  'a wireguard-go with a key our peer does not know is refused: no handshake, counted, nothing delivered',
  async (t) => {
    const lab = await wireguardLab(t);
    const stranger = keyPair();
    const inner = uniqueSubnet();
    const name = `wgs${uniqueName('')}`.slice(0, 15);
    // A second wireguard-go beside the first, with its own key, that knows our public key and endpoint.
    lab.processes.push(
      await startWireguardGo({
        ns: lab.theirs,
        name,
        dir: lab.dir,
        privateKey: stranger.privateKey,
        port: GO_PORT + 1,
        peer: lab.keys.ours.publicKey,
        endpoint: `${lab.underlay.ours}:${OUR_PORT}`,
        allowedIps: `${inner.host(1)}/32`,
      }),
    );
    ip('-n', lab.theirs, 'addr', 'add', `${inner.host(2)}/24`, 'dev', name);
    ip('-n', lab.theirs, 'link', 'set', name, 'up');
    const before = deliveredPackets(lab);
    assert.match(await ping(lab.theirs, inner.host(1), 2), / 100% packet loss/);
    await lab.peer.waitFor(
      new RegExp(`: an unknown peer \\(${stranger.publicKey.replace(/[+/]/g, '\\$&')}\\) \\(1 dropped\\)$`, 'm'),
    );
    assert.equal(deliveredPackets(lab), before);
    assert.doesNotMatch(lab.peer.stdout, /^Handshake/m);
  },
  { timeout: 90_000 },
);

privilegedTest(
  'PersistentKeepalive makes our peer send keepalives that wireguard-go receives, with no traffic',
  async (t) => {
    const lab = await wireguardLab(t, { peerLines: ['PersistentKeepalive = 1'] });
    // No ping: the keepalive itself needs a session, so our peer starts the handshake.
    await lab.go.waitFor(/(Receiving keepalive packet[^]*){3}/, 30_000);
    assert.match(lab.peer.stdout, /\(we initiated\)/);
    await lab.peer.assertStopsCleanlyOnSigint(lab.tunName);
    const [, sent] = /keepalives sent (\d+)/.exec(lab.peer.stdout) ?? [];
    assert.ok(Number(sent) >= 3, lab.peer.stdout);
  },
  { timeout: 90_000 },
);

privilegedTest(
  'under load our peer answers an initiation with a cookie reply, and wireguard-go comes back with mac2',
  async (t) => {
    const lab = await wireguardLab(t, { args: ['--test-under-load'] });
    // wireguard-go retries after REKEY_TIMEOUT (5 s), now with mac2 made from our cookie.
    assert.match(await ping(lab.theirs, lab.tunnel.ours, 1).then(() => ping(lab.theirs, lab.tunnel.ours, 1)), / 0% packet loss/);
    assert.match(lab.peer.stdout, /^Sent a cookie reply to /m);
    assert.match(lab.peer.stdout, /\(it initiated\)/);
    assert.match(lab.go.stdout, /Receiving cookie response from /);
    assert.doesNotMatch(lab.go.stdout, /invalid cookie/);
  },
  { timeout: 90_000 },
);

// Streams random blocks to argv[1]:7000 until SIGINT, then prints the byte count and SHA-256 of what it sent.
const STREAM = `
const crypto = require('crypto');
const block = crypto.randomBytes(1 << 16), hash = crypto.createHash('sha256');
let sent = 0, stopping = false;
const c = require('net').connect(7000, process.argv[1], () => {
  console.log('connected');
  const pump = () => {
    while (!stopping) {
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(sent >>> 0, 0);
      hash.update(chunk);
      sent += chunk.length;
      if (!c.write(chunk)) return void c.once('drain', pump);
    }
  };
  pump();
});
process.on('SIGINT', () => { stopping = true; c.end(); });
c.on('close', () => console.log('sent ' + sent + ' ' + hash.digest('hex')));`;

privilegedTest(
  'a TCP transfer through the tunnel goes on across a rekey, every byte intact',
  async (t) => {
    const lab = await wireguardLab(t, { args: ['--test-rekey-after-time', '2'] });
    assert.match(await ping(lab.ours, lab.tunnel.theirs, 1), / 0% packet loss/);
    const sink = ExampleProcess.script(TCP_SINK, [lab.tunnel.theirs], { netns: lab.theirs });
    lab.processes.push(sink);
    await sink.waitFor(/^listening$/m);
    const source = ExampleProcess.script(STREAM, [lab.tunnel.theirs], { netns: lab.ours });
    lab.processes.push(source);
    await source.waitFor(/^connected$/m);
    // Our peer initiated the first session; the data it sends on an aging session makes it rekey.
    await lab.peer.waitFor(/(\(we initiated\)[^]*){2}/, 30_000);
    await source.stop('SIGINT');
    const [, sent] = await source.waitFor(/^sent (\d+ [0-9a-f]{64})$/m);
    const [, received] = await sink.waitFor(/^received (\d+ [0-9a-f]{64})$/m, 30_000);
    assert.equal(received, sent, 'the same bytes arrive, in order');
    assert.ok((lab.go.stdout.match(/Received handshake initiation/g) ?? []).length >= 2, 'wireguard-go saw the rekey');
    await lab.peer.assertStopsCleanlyOnSigint(lab.tunName);
    assert.match(lab.peer.stdout, /^Dropped 0 datagrams;/m);
  },
  { timeout: 90_000 },
);

privilegedTest(
  'iperf3 runs a TCP transfer through the tunnel for a few seconds, its server receiving what its client sent',
  async (t) => {
    const lab = await wireguardLab(t);
    const server = ExampleProcess.program('iperf3', ['-s', '-1', '-B', lab.tunnel.theirs, '--forceflush'], { netns: lab.theirs });
    lab.processes.push(server);
    await server.waitFor(/Server listening/);
    const seconds = 4;
    const client = await run('ip', [
      'netns',
      'exec',
      lab.ours,
      'iperf3',
      '-c',
      lab.tunnel.theirs,
      '-t',
      String(seconds),
      '-J',
      '--connect-timeout',
      '5000',
    ]);
    assert.equal(client.code, 0, client.stdout + client.stderr);
    const result = JSON.parse(client.stdout) as { end: { sum_sent: { bytes: number }; sum_received: { bytes: number } } };
    const { sum_sent: sent, sum_received: received } = result.end;
    // The client counts what it wrote into its socket; what was still in the socket buffer when the
    // time ran out never reaches the server's count. Byte-exact content is the test above.
    assert.ok(received.bytes > 0 && received.bytes <= sent.bytes, JSON.stringify(result.end));
    assert.ok(received.bytes >= sent.bytes - 16 * 1024 * 1024, `at most a socket buffer short: ${JSON.stringify(result.end)}`);
    await lab.peer.assertStopsCleanlyOnSigint(lab.tunName);
    assert.match(lab.peer.stdout, /^Dropped 0 datagrams;/m);
    console.log(
      `# iperf3 through the tunnel: ${((received.bytes * 8) / seconds / 1e6).toFixed(0)} Mbit/s received over ${seconds} s`,
    );
  },
  { timeout: 90_000 },
);

for (const mode of ['tso', 'gro'] as const) {
  privilegedTest(
    `with --offload ${mode}, TCP streams both ways arrive intact: ${mode === 'tso' ? 'super-packets cut on the way out, ' : ''}segments merged on the way in`,
    async (t) => {
      const lab = await wireguardLab(t, { args: ['--offload', mode] });
      assert.match(await ping(lab.ours, lab.tunnel.theirs, 1), / 0% packet loss/, lab.peer.transcript());
      for (const [from, to, address] of [
        [lab.ours, lab.theirs, lab.tunnel.theirs],
        [lab.theirs, lab.ours, lab.tunnel.ours],
      ]) {
        const sink = ExampleProcess.script(TCP_SINK, [address], { netns: to });
        lab.processes.push(sink);
        await sink.waitFor(/^listening$/m);
        const source = ExampleProcess.script(STREAM, [address], { netns: from });
        lab.processes.push(source);
        await source.waitFor(/^connected$/m);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await source.stop('SIGINT');
        const [, sent] = await source.waitFor(/^sent (\d+ [0-9a-f]{64})$/m);
        const [, received] = await sink.waitFor(/^received (\d+ [0-9a-f]{64})$/m, 30_000);
        assert.equal(received, sent, `the same bytes arrive, in order, from ${from}`);
        assert.ok(Number(sent.split(' ')[0]) > 1 << 20, 'more than a megabyte went');
      }
      await lab.peer.assertStopsCleanlyOnSigint(lab.tunName);
      const [, cut, merged] = /; (\d+) super-packets cut, 0 could not be; (\d+) segments merged$/m.exec(lab.peer.stdout) ?? [];
      assert.ok((mode === 'tso' ? Number(cut) > 0 : cut === '0') && Number(merged) > 0, lab.peer.stdout);
      assert.match(lab.peer.stdout, /^Dropped 0 datagrams;/m);
    },
    { timeout: 90_000 },
  );
}
