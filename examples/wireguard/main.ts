// A WireGuard peer on a TUN device: reads a `wg setconf` file, opens the
// device through tuntap-ts (packets in batches: readBatches / writePackets)
// and a UDP socket through dgram, and speaks the protocol to the peers the
// file names (wireguard-go, the kernel module, or another of these). An
// example to read, not an audited VPN: see README.md beside this file.
//
//   node dist/examples/wireguard/main.js --config wg0.conf --address 10.7.0.1/24 [--address fd07::1/64] [--name wg0]
//     [--offload gro|tso]
//
// Each dropped datagram is printed with its reason and the running count;
// Ctrl-C prints the totals, closes the device and exits 0.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { VIRTIO_NET_HDR_SIZE, coalesceTcp, splitGso, type OffloadOptions } from '../../lib';
import { closeDevice, exitOnSignal, fail, openConfigured } from '../common';
import { parseConfig } from './config';
import {
  COOKIE_REPLY_LENGTH,
  CookieJar,
  INITIATION_LENGTH,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_DATA,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  RESPONSE_LENGTH,
  consumeCookieReply,
  consumeInitiation,
  createCookieReply,
  identity,
  validMac1,
  validMac2,
} from './handshake';
import { Peer, PeerTable, destinationOf, type Endpoint, type Host } from './peer';
import { TIMING, type Timing } from './timers';
import { MIN_DATA_LENGTH } from './transport';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    name: { type: 'string', default: '' },
    address: { type: 'string', multiple: true, default: [] },
    mtu: { type: 'string', default: '1420' },
    // A virtio_net_hdr on the device: 'gro' merges the TCP segments received into super-packets before
    // the write, as the kernel's GRO would; 'tso' as well, and has the kernel hand over super-packets to cut.
    offload: { type: 'string' },
    // For tests only: rekey sooner than the protocol's 120 s, and act as if under load (always ask for a cookie).
    'test-rekey-after-time': { type: 'string' },
    'test-under-load': { type: 'boolean', default: false },
  },
});

/**
 * Decrypted packets bound for the device, copied into one reused slab and
 * written in one writePackets() call per event-loop turn (or sooner, when the slab is full).
 */
class DeviceBatch {
  static readonly MAX_PACKETS = 256;
  readonly #slab = Buffer.allocUnsafe(DeviceBatch.MAX_PACKETS * 2048);
  readonly #descriptors = new Uint32Array(2 * DeviceBatch.MAX_PACKETS);
  #count = 0;
  #used = 0;
  #scheduled = false;
  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(readonly write: (slab: Buffer, descriptors: Uint32Array, count: number) => number) {}

  /** Queues `packet`, behind `zeros` zero bytes (an empty virtio_net_hdr) when given. */
  push(packet: Buffer, zeros = 0): void {
    const length = zeros + packet.length;
    if (length > this.#slab.length) return void this.refused++;
    if (this.#count === DeviceBatch.MAX_PACKETS || this.#used + length > this.#slab.length) this.flush();
    const i = this.#count++;
    this.#descriptors[2 * i] = this.#used;
    this.#descriptors[2 * i + 1] = length;
    this.#slab.fill(0, this.#used, this.#used + zeros);
    packet.copy(this.#slab, this.#used + zeros);
    // Aligned to 16 bytes, as the device's own slabs are.
    this.#used += (length + 15) & ~15;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushSoon);
    }
  }

  /** Packets the device's queue had no room for. */
  refused = 0;

  flush(): void {
    const count = this.#count;
    this.#count = this.#used = 0;
    if (count > 0) this.refused += count - this.write(this.#slab, this.#descriptors, count);
  }
}

/** Packets bound for a device with offloads, merged into super-packets once per event-loop turn. */
class CoalescingBatch {
  #packets: Buffer[] = [];
  #scheduled = false;
  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    const packets = this.#packets;
    this.#packets = [];
    // A lone packet has nothing to merge with: it goes behind an empty header, with no copy of its own.
    if (packets.length === 1) this.device.push(packets[0], VIRTIO_NET_HDR_SIZE);
    else {
      const merged = coalesceTcp(packets);
      this.merged += packets.length - merged.length;
      for (const packet of merged) this.device.push(packet);
    }
    this.device.flush();
  };

  /** Segments that went into another's super-packet. */
  merged = 0;

  constructor(readonly device: DeviceBatch) {}

  push(packet: Buffer): void {
    this.#packets.push(packet);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushSoon);
    }
  }
}

/** Endpoints are IP literals (config and rinfo): no DNS, and no tick per send waiting for one. */
const literal: dgram.SocketOptions['lookup'] = (host, options, callback) => callback(null, host, host.includes(':') ? 6 : 4);

async function bind(type: 'udp4' | 'udp6', port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6', lookup: literal });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, type === 'udp4' ? '0.0.0.0' : '::', () => resolve());
  });
  return socket;
}

function offloadOption(value: string | undefined): OffloadOptions | undefined {
  if (value === undefined) return undefined;
  if (value !== 'gro' && value !== 'tso') throw new Error(`--offload must be gro or tso, not ${JSON.stringify(value)}`);
  return { tso: value === 'tso' };
}

async function main(): Promise<void> {
  if (values.config === undefined) throw new Error('--config is required: a file in the format `wg setconf` reads');
  const config = parseConfig(readFileSync(values.config, 'utf8'));
  const mtu = Number(values.mtu);
  const timing: Timing = { ...TIMING };
  if (values['test-rekey-after-time'] !== undefined) timing.rekeyAfterTime = Number(values['test-rekey-after-time']) * 1000;
  const underLoad = values['test-under-load'];

  const socket4 = await bind('udp4', config.listenPort);
  const port = socket4.address().port;
  const socket6 = await bind('udp6', port);
  const dev = await openConfigured({
    name: values.name,
    addresses: values.address,
    mtu,
    offload: offloadOption(values.offload),
  });
  // coalesceTcp writes the 10-byte header; a device asking for another size is not one to merge for.
  if (dev.offload !== null && dev.offload.headerSize !== VIRTIO_NET_HDR_SIZE)
    throw new Error(`--offload needs a ${VIRTIO_NET_HDR_SIZE}-byte virtio_net_hdr, not ${dev.offload.headerSize}`);

  const socket = (to: Endpoint): dgram.Socket => (to.host.includes(':') ? socket6 : socket4);
  const dropped = new Map<string, number>();
  let totalDropped = 0;
  const drop = (why: string, from: Endpoint): void => {
    dropped.set(why, (dropped.get(why) ?? 0) + 1);
    totalDropped++;
    console.log(`Dropped a datagram from ${from.host}:${from.port}: ${why} (${totalDropped} dropped)`);
  };
  let noRoute = 0;
  const toDevice = new DeviceBatch((slab, d, count) => dev.writePackets(slab, d, count));
  const merging = dev.offload === null ? undefined : new CoalescingBatch(toDevice);
  const table = new PeerTable();
  const host: Host = {
    local: identity(config.privateKey, config.publicKey),
    timing,
    mtu,
    table,
    sendDatagram: (peer, datagram) => {
      const to = peer.endpoint!;
      socket(to).send(datagram, to.port, to.host);
    },
    deliver: (packet) => (merging === undefined ? toDevice.push(packet) : merging.push(packet)),
    log: (line) => console.log(line),
  };
  for (const peerConfig of config.peers) table.add(new Peer(host, peerConfig));
  const cookies = new CookieJar();

  const onDatagram = (message: Buffer, rinfo: dgram.RemoteInfo): void => {
    const from = { host: rinfo.address, port: rinfo.port };
    const type = message.length >= 4 ? message.readUInt32LE(0) : 0;
    if (type === MESSAGE_INITIATION && message.length === INITIATION_LENGTH) {
      if (!validMac1(host.local, message)) return drop('a bad mac1', from);
      if (underLoad) {
        const cookie = cookies.cookieFor(from.host, from.port, Date.now());
        if (!validMac2(message, cookie)) {
          socket(from).send(createCookieReply(host.local, message, cookie), from.port, from.host);
          console.log(`Sent a cookie reply to ${from.host}:${from.port}`);
          return;
        }
      }
      const consumed = consumeInitiation(host.local, message, (key) => table.byPublicKey(key)?.remote);
      if ('error' in consumed) return drop(consumed.error, from);
      return table.byPublicKey(consumed.from.publicKey)!.respond(consumed.state, from);
    }
    if (type === MESSAGE_RESPONSE && message.length === RESPONSE_LENGTH) {
      if (!validMac1(host.local, message)) return drop('a bad mac1', from);
      const entry = table.indices.get(message.readUInt32LE(8));
      if (entry === undefined) return drop('an unknown receiver index', from);
      const error = entry.peer.onResponse(message, from);
      return error === undefined ? undefined : drop(error, from);
    }
    if (type === MESSAGE_COOKIE_REPLY && message.length === COOKIE_REPLY_LENGTH) {
      const entry = table.indices.get(message.readUInt32LE(4));
      if (entry === undefined) return drop('an unknown receiver index', from);
      if (!consumeCookieReply(entry.peer.remote, message, Date.now()))
        return drop('a cookie reply that does not authenticate', from);
      console.log(`Received a cookie from peer ${entry.peer.name}`);
      return;
    }
    if (type === MESSAGE_DATA && message.length >= MIN_DATA_LENGTH) {
      const entry = table.indices.get(message.readUInt32LE(4));
      if (entry?.keypair === undefined) return drop('an unknown receiver index', from);
      const error = entry.peer.onData(entry.keypair, message, from);
      return error === undefined ? undefined : drop(error, from);
    }
    drop('not a WireGuard message', from);
  };
  socket4.on('message', onDatagram);
  socket6.on('message', onDatagram);

  const route = (packet: Buffer): void => {
    const destination = destinationOf(packet);
    const peer = destination === undefined ? undefined : table.ownerOf(destination);
    // Router solicitations and MLD reports go to multicast addresses no peer owns.
    if (peer === undefined) noRoute++;
    else peer.sendPacket(packet);
  };
  let [unsplit, cut] = [0, 0];
  dev.readBatches((slab, d, count) => {
    for (let i = 0; i < count; i++) {
      const packet = slab.subarray(d[2 * i], d[2 * i] + d[2 * i + 1]);
      if (dev.offload === null) {
        route(packet);
        continue;
      }
      const split = splitGso(packet);
      if (!split.ok) unsplit++;
      else {
        if (split.packets.length > 1) cut++;
        for (const segment of split.packets) route(segment);
      }
    }
  });
  dev.on('drop', (_packet, error) => console.error(`The kernel refused a packet from a peer: ${error.message}`));

  exitOnSignal(async () => {
    for (const peer of table.peers) {
      peer.close();
      const c = peer.counts;
      console.log(
        `Peer ${peer.name}: ${c.handshakes} handshakes, ${c.initiationsSent} initiations sent, sent ${c.sent} packets, ` +
          `received ${c.received}, keepalives sent ${c.keepalivesSent}, received ${c.keepalivesReceived}`,
      );
    }
    const reasons = [...dropped].map(([why, n]) => `${why}: ${n}`).join(', ');
    console.log(
      `Dropped ${totalDropped} datagrams${reasons === '' ? '' : ` (${reasons})`}; ${noRoute} packets had no peer; ${toDevice.refused} refused by the device` +
        (merging === undefined ? '' : `; ${cut} super-packets cut, ${unsplit} could not be; ${merging.merged} segments merged`),
    );
    socket4.close();
    socket6.close();
    await closeDevice(dev);
  });
  for (const peer of table.peers) peer.start();
  console.log(
    `Listening on ${dev.name} (${values.address.join(', ')}, mtu ${mtu}): UDP port ${port}, public key ${config.publicKey.toString('base64')}; Ctrl-C to stop`,
  );
}

main().catch(fail);
