// The classic VPN: IP packets read from a TUN device travel to the peer inside
// UDP datagrams, and datagrams from the peer are written back into the TUN
// device. Run one side in each of two hosts (or network namespaces):
//
//   A: node dist/examples/udp-vpn.js --address 10.8.0.1/24 --listen 192.0.2.1:5555 --peer 192.0.2.2:5555 --route 10.2.0.0/24 --key $KEY
//   B: node dist/examples/udp-vpn.js --address 10.8.0.2/24 --listen 192.0.2.2:5555 --peer 192.0.2.1:5555 --route 10.1.0.0/24 --key $KEY
//
// KEY is 32 bytes in hex (openssl rand -hex 32). With --key every datagram is
// sealed with ChaCha20-Poly1305 (a fresh random 96-bit nonce in front, the
// 16-byte tag behind); a datagram that fails authentication is dropped and
// counted, never written. Without --key packets travel in clear and only
// datagrams from the peer's address and port are accepted. There is no replay
// protection and no key exchange: this is an example, not WireGuard.
//
// Two things bite VPN users. The MTU: the TUN MTU must leave room for the
// outer IP+UDP headers and the nonce and tag (28 + 28 bytes), or large packets
// are dropped on the way; --mtu defaults to 1400. And reverse-path filtering:
// with rp_filter on, a packet written to the TUN device whose source has no
// route back through that device is dropped silently, so --route must cover
// the peer's subnets (the source addresses the peer's packets carry).
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { ipVersion } from '../lib';
import { closeDevice, endpoint, exitOnSignal, fail, openConfigured } from './common';

const NONCE = 12;
const TAG = 16;

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: '' },
    address: { type: 'string' },
    listen: { type: 'string' },
    peer: { type: 'string' },
    route: { type: 'string', multiple: true, default: [] },
    key: { type: 'string' },
    mtu: { type: 'string', default: '1400' },
  },
});

function parseKey(hex: string | undefined): Buffer | undefined {
  if (hex === undefined) return undefined;
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error('--key must be 32 bytes in hex (64 hex digits): openssl rand -hex 32');
  return Buffer.from(hex, 'hex');
}

/** nonce | ciphertext | tag */
function seal(key: Buffer, packet: Buffer): Buffer {
  const out = Buffer.allocUnsafe(NONCE + packet.length + TAG);
  const nonce = randomFillSync(out, 0, NONCE).subarray(0, NONCE);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  const n = cipher.update(packet).copy(out, NONCE);
  cipher.final();
  cipher.getAuthTag().copy(out, NONCE + n);
  return out;
}

/** The packet, or null when the datagram was not sealed with our key. */
function open(key: Buffer, datagram: Buffer): Buffer | null {
  if (datagram.length < NONCE + TAG + 1) return null;
  const decipher = createDecipheriv('chacha20-poly1305', key, datagram.subarray(0, NONCE), { authTagLength: TAG });
  decipher.setAuthTag(datagram.subarray(datagram.length - TAG));
  const body = decipher.update(datagram.subarray(NONCE, datagram.length - TAG));
  try {
    decipher.final();
  } catch {
    return null; // "Unsupported state or unable to authenticate data"
  }
  return body;
}

async function main(): Promise<void> {
  if (values.address === undefined) throw new Error('--address is required: the TUN address with prefix, such as 10.8.0.1/24');
  const local = endpoint('listen', values.listen);
  const peer = endpoint('peer', values.peer);
  const key = parseKey(values.key);
  const socket = dgram.createSocket(net.isIPv6(local.host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(local.port, local.host, () => resolve());
  });

  const dev = await openConfigured({ name: values.name, addresses: [values.address], mtu: Number(values.mtu) });
  for (const route of values.route) await dev.addRoute(route);

  const counts = { sent: 0, received: 0, dropped: 0 };
  exitOnSignal(async () => {
    socket.close();
    console.log(`Sent ${counts.sent} packets, received ${counts.received}, dropped ${counts.dropped}`);
    await closeDevice(dev);
  });
  const drop = (why: string, from: dgram.RemoteInfo): void => {
    counts.dropped++;
    console.log(`Dropped a datagram from ${from.address}:${from.port}: ${why} (${counts.dropped} dropped)`);
  };

  dev.readable.on('data', (packet: Buffer) => {
    // IPv6 router solicitations and MLD reports go through too: the peer's kernel ignores them.
    socket.send(key === undefined ? packet : seal(key, packet), peer.port, peer.host);
    counts.sent++;
  });
  socket.on('message', (datagram, from) => {
    if (key === undefined && (from.address !== peer.host || from.port !== peer.port)) return drop('not from the peer', from);
    const packet = key === undefined ? datagram : open(key, datagram);
    if (packet === null) return drop('failed authentication', from);
    if (ipVersion(packet) === 0) return drop('not an IP packet', from);
    dev.writable.write(packet);
    counts.received++;
  });
  dev.on('drop', (_packet, error) => console.error(`The kernel refused a packet from the peer: ${error.message}`));

  console.log(
    `Listening on ${dev.name} (${values.address}, mtu ${values.mtu}): UDP ${values.listen} <-> ${values.peer}, ` +
      `${key === undefined ? 'in clear' : 'ChaCha20-Poly1305'}; Ctrl-C to stop`,
  );
}

main().catch(fail);
