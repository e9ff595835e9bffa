// The client under test in bench/tls-tunnel.ts, one process per round:
//   node tls-tunnel-worker.js native|tunnel HOST PORT CERT KEY MTU
// native: appium-ios-tuntap's connectToTunnelLockdown() (its own TUN device,
// its OpenSSL threads); tunnel: the same CDTunnel handshake on a TLSSocket,
// then tunnel() with 'ip' framing. Prints "ready PID" once packets flow;
// SIGTERM closes it.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { TunDevice, tunnel } from '../lib';

interface NativeModule {
  connectToTunnelLockdown(socket: net.Socket, credentials: { cert: string; key: string }): Promise<{ closer(): Promise<void> }>;
}

// TypeScript would turn import() into require(), which cannot load an ES module.
const importEsm = new Function('p', 'return import(p)') as (p: string) => Promise<NativeModule>;

/** appium-ios-tuntap from the project's or bench/'s node_modules, loaded (its addon with it). */
export async function loadNative(): Promise<NativeModule> {
  return importEsm(pathToFileURL(nativeEntry()).href);
}

function nativeEntry(): string {
  const root = path.join(__dirname, '..', '..');
  const errors: string[] = [];
  for (const from of [path.join(root, 'package.json'), path.join(root, 'bench', 'package.json')]) {
    try {
      return createRequire(from).resolve('appium-ios-tuntap');
    } catch (error) {
      errors.push(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
    }
  }
  throw new Error(
    `appium-ios-tuntap is not installed (npm install --prefix bench; it builds against Debian's libssl-dev): ${errors.join('; ')}`,
  );
}

/** A CDTunnel message: the magic, a big-endian 16-bit length, the JSON. */
function cdTunnelFrame(message: object): Buffer {
  const json = Buffer.from(JSON.stringify(message));
  const header = Buffer.alloc(10);
  header.write('CDTunnel', 0, 'latin1');
  header.writeUInt16BE(json.length, 8);
  return Buffer.concat([header, json]);
}

/** Reads the server's CDTunnel reply; bytes after it are given back to the (paused) socket. */
function cdTunnelReply(socket: tls.TLSSocket): Promise<{ address: string; mtu: number }> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 10) return;
      if (got.toString('latin1', 0, 8) !== 'CDTunnel') return done(new Error('no CDTunnel magic in the reply'));
      const end = 10 + got.readUInt16BE(8);
      if (got.length < end) return;
      socket.pause();
      if (got.length > end) socket.unshift(got.subarray(end));
      done(undefined, JSON.parse(got.toString('utf8', 10, end)) as { clientParameters: { address: string; mtu: number } });
    };
    const onClose = (): void => done(new Error('the server closed before its CDTunnel reply'));
    const done = (error?: Error, reply?: { clientParameters: { address: string; mtu: number } }): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      if (reply === undefined) reject(error);
      else resolve(reply.clientParameters);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

async function viaTunnel(host: string, port: number, cert: string, key: string, mtu: number): Promise<() => Promise<void>> {
  const socket = tls.connect({ host, port, cert, key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  socket.setNoDelay(true);
  socket.write(cdTunnelFrame({ type: 'clientHandshakeRequest', mtu }));
  const params = await cdTunnelReply(socket);
  const dev = await TunDevice.open({ name: `tlsb${process.pid % 100000}` });
  await dev.addAddress(`${params.address}/64`);
  await dev.setMtu(params.mtu);
  await dev.up();
  const t = tunnel(dev, socket, { framing: 'ip', closeDevice: true });
  t.on('error', (error) => console.error(`tunnel: ${error.message}`));
  socket.resume();
  return async () => {
    t.destroy();
    await dev.close();
  };
}

async function viaNative(host: string, port: number, cert: string, key: string, mtu: number): Promise<() => Promise<void>> {
  const native = await loadNative();
  process.env.APPIUM_TUNTAP_MTU_REQUEST_SIZE = String(mtu);
  const socket = net.connect({ host, port });
  await once(socket, 'connect');
  const connection = await native.connectToTunnelLockdown(socket, { cert, key });
  return () => connection.closer();
}

async function main([variant, host, port, certFile, keyFile, mtu]: string[]): Promise<void> {
  const cert = readFileSync(certFile, 'utf8');
  const key = readFileSync(keyFile, 'utf8');
  const open = variant === 'native' ? viaNative : viaTunnel;
  const close = await open(host, Number(port), cert, key, Number(mtu));
  process.on('SIGTERM', () => {
    void close().finally(() => process.exit(0));
  });
  console.log(`ready ${process.pid}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
