// examples/wireguard: our peer in one namespace, wireguard-go (Debian's, an
// implementation no one here wrote) in another, joined by a veth and nothing
// else. Keys come from `wg genkey`; wireguard-go is configured with `wg set`
// and logs verbosely, so its own log says who initiated and what it received.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { parseConfig, publicKeyOf } from '../examples/wireguard/config';
import { ExampleProcess } from './example-helpers';
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

  // wireguard-go, logging verbosely to stdout; its UAPI socket (shared across namespaces) is named after goName.
  const go = ExampleProcess.program(
    'env',
    ['LOG_LEVEL=verbose', 'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1', 'wireguard-go', '-f', goName],
    { netns: theirs },
  );
  processes.push(go);
  await go.waitFor(/UAPI listener started/);
  // wg reads keys from files (a pipe from Node is a socket, which it cannot fopen).
  const goKey = path.join(dir, 'go.key');
  writeFileSync(goKey, keys.theirs.privateKey, { mode: 0o600 });
  wg(['set', goName, 'private-key', goKey, 'listen-port', String(GO_PORT)], undefined, theirs);
  wg(
    [
      'set',
      goName,
      'peer',
      keys.ours.publicKey,
      'endpoint',
      `${under.host(1)}:${OUR_PORT}`,
      'allowed-ips',
      `${tunnel.ours}/32,${tunnel.ours6}/128`,
    ],
    undefined,
    theirs,
  );
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
