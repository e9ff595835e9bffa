// An IPv6 tunnel over TLS 1.2 in the style of the one Apple devices speak to
// Appium's iOS tooling: raw IPv6 packets back to back in the TLS stream, each
// one's length read from its own header, no framing of their own. One side
// listens, the other connects; each brings up a TUN device with its address.
//
//   A: node dist/examples/tls-tunnel.js --listen 192.0.2.1:5443 --cert cert.pem --key key.pem --address fd00:7::1/64
//   B: node dist/examples/tls-tunnel.js --connect 192.0.2.1:5443 --ca cert.pem --servername tunnel --address fd00:7::2/64
//
// A throwaway certificate for a test: openssl req -x509 -newkey ec -pkeyopt
// ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=tunnel -addext
// subjectAltName=DNS:tunnel -keyout key.pem -out cert.pem
//
// Backpressure is the library's (see tunnel()): when TLS cannot take more,
// the device is not read and its kernel queue drops, as a link would.
// Bytes in the stream that are no IPv6 packet are skipped and counted.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { tunnel, type Tunnel, type TunDevice } from '../lib';
import { closeDevice, endpoint, exitOnSignal, fail, openConfigured } from './common';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: '' },
    address: { type: 'string' },
    listen: { type: 'string' },
    connect: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    servername: { type: 'string', default: 'tunnel' },
    mtu: { type: 'string', default: '1280' },
  },
});

/** Joins the device to one TLS connection and reports how it ends. */
function carry(dev: TunDevice, socket: tls.TLSSocket): Tunnel {
  const t = tunnel(dev, socket, { framing: 'ip' });
  console.log(`Tunnel up: ${dev.name} <-> ${socket.remoteAddress}:${socket.remotePort} (${socket.getProtocol()})`);
  t.on('error', (error) => console.error(`Tunnel error: ${error.message}`));
  t.on('close', () => console.log(`Tunnel closed: ${JSON.stringify(t.stats)}`));
  return t;
}

async function main(): Promise<void> {
  if (values.address === undefined) throw new Error('--address is required: the TUN address with prefix, such as fd00:7::1/64');
  if ((values.listen === undefined) === (values.connect === undefined)) throw new Error('give one of --listen or --connect');
  const dev = await openConfigured({ name: values.name, addresses: [values.address], mtu: Number(values.mtu) });
  const tunnels = new Set<Tunnel>();
  let server: tls.Server | undefined;
  exitOnSignal(async () => {
    server?.close();
    await Promise.all([...tunnels].map((t) => t.close()));
    await closeDevice(dev);
  });
  const track = (t: Tunnel): void => {
    tunnels.add(t);
    t.on('close', () => tunnels.delete(t));
  };

  if (values.listen !== undefined) {
    if (values.cert === undefined || values.key === undefined) throw new Error('--listen needs --cert and --key');
    const { host, port } = endpoint('listen', values.listen);
    const options = {
      cert: readFileSync(values.cert),
      key: readFileSync(values.key),
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    } as const;
    server = tls.createServer(options, (socket) => {
      // One peer at a time: its packets and another's would interleave in one device.
      if (tunnels.size > 0) return void socket.destroy();
      track(carry(dev, socket));
    });
    server.on('tlsClientError', (error) => console.error(`TLS handshake failed: ${error.message}`));
    await new Promise<void>((resolve) => server!.listen(port, host, resolve));
    console.log(`Listening on ${values.listen} for ${dev.name} (${values.address}); Ctrl-C to stop`);
  } else {
    const { host, port } = endpoint('connect', values.connect);
    const ca = values.ca === undefined ? undefined : readFileSync(values.ca);
    const socket = tls.connect({ host, port, ca, servername: values.servername, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const t = carry(dev, socket);
    track(t);
    // The client's life is the connection's.
    t.on('close', () => void closeDevice(dev).then(() => process.exit(0)));
  }
}

main().catch(fail);
