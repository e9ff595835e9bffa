// The classic VPN: IP packets read from a TUN device travel to the peer inside
// UDP datagrams, and datagrams from the peer are written back into the TUN
// device. Run one side in each of two hosts (or network namespaces):
//
//   A: node dist/examples/udp-vpn.js --address 10.8.0.1/24 --listen 192.0.2.1:5555 --peer 192.0.2.2:5555 --route 10.2.0.0/24
//   B: node dist/examples/udp-vpn.js --address 10.8.0.2/24 --listen 192.0.2.2:5555 --peer 192.0.2.1:5555 --route 10.1.0.0/24
//
// udpTunnel() carries the packets natively, a batch per wake-up each way
// (recvmmsg, sendmmsg): no JavaScript runs per packet. The socket is connected
// to the peer, so the kernel turns away datagrams from anyone else.
//
// --key HEX (32 bytes: openssl rand -hex 32) shows where encryption goes: a
// hook per batch seals each packet in place with ChaCha20-Poly1305, the nonce
// and tag riding in a 28-byte tunnel header; a packet that fails
// authentication is dropped (length 0) and counted. No replay protection and
// no key exchange: this is an example, not WireGuard.
//
// Two things bite VPN users. The MTU: the TUN MTU must leave room for the
// outer IP+UDP headers (28 bytes) and the tunnel header, or large packets are
// dropped on the way; --mtu defaults to 1400. And reverse-path filtering:
// with rp_filter on, a packet written to the TUN device whose source has no
// route back through that device is dropped silently, so --route must cover
// the peer's subnets (the source addresses the peer's packets carry).
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { udpTunnel, type UdpBatch, type UdpTunnelOptions } from '../lib';
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

function parseKey(hex: string): Buffer {
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error('--key must be 32 bytes in hex (64 hex digits): openssl rand -hex 32');
  return Buffer.from(hex, 'hex');
}

/** Hooks that seal every packet in place (header: nonce | tag) and open it on arrival, or drop it. */
function chacha20Poly1305(key: Buffer, failed: { count: number }): Partial<UdpTunnelOptions> {
  const each = (batch: UdpBatch, crypt: (packet: Buffer, header: Buffer) => boolean): void => {
    const { buffer, descriptors: d, count, headers } = batch;
    for (let i = 0; i < count; i++) {
      const packet = buffer.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]);
      if (!crypt(packet, headers!.subarray(i * (NONCE + TAG), (i + 1) * (NONCE + TAG)))) d[2 * i + 1] = 0;
    }
  };
  return {
    header: NONCE + TAG,
    onOutgoing: (batch) => {
      randomFillSync(batch.headers!);
      each(batch, (packet, header) => {
        const cipher = createCipheriv('chacha20-poly1305', key, header.subarray(0, NONCE), { authTagLength: TAG });
        cipher.update(packet).copy(packet);
        cipher.final();
        cipher.getAuthTag().copy(header, NONCE);
        return true;
      });
    },
    onIncoming: (batch) =>
      each(batch, (packet, header) => {
        const decipher = createDecipheriv('chacha20-poly1305', key, header.subarray(0, NONCE), { authTagLength: TAG });
        decipher.setAuthTag(header.subarray(NONCE));
        const plain = decipher.update(packet);
        try {
          decipher.final();
        } catch {
          failed.count++; // "Unsupported state or unable to authenticate data"
          return false;
        }
        plain.copy(packet);
        return true;
      }),
  };
}

async function main(): Promise<void> {
  if (values.address === undefined) throw new Error('--address is required: the TUN address with prefix, such as 10.8.0.1/24');
  const local = endpoint('listen', values.listen);
  const peer = endpoint('peer', values.peer);
  const failed = { count: 0 };
  const sealing = values.key === undefined ? {} : chacha20Poly1305(parseKey(values.key), failed);

  const dev = await openConfigured({ name: values.name, addresses: [values.address], mtu: Number(values.mtu) });
  for (const route of values.route) await dev.addRoute(route);
  const tunnel = udpTunnel(dev, {
    bind: { address: local.host, port: local.port },
    peer: { address: peer.host, port: peer.port },
    ...sealing,
  });
  exitOnSignal(async () => {
    const { packetsOut, bytesOut, packetsIn, bytesIn, dropped } = tunnel.counters;
    console.log(`Sent ${packetsOut} packets (${bytesOut} bytes), received ${packetsIn} (${bytesIn} bytes)`);
    console.log(`Dropped ${JSON.stringify(dropped)}, failed authentication ${failed.count}`);
    await tunnel.close();
    await closeDevice(dev);
  });

  console.log(
    `Listening on ${dev.name} (${values.address}, mtu ${values.mtu}): UDP ${values.listen} <-> ${values.peer}, ` +
      `${values.key === undefined ? 'in clear' : 'ChaCha20-Poly1305'}; Ctrl-C to stop`,
  );
}

main().catch(fail);
