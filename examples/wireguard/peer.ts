// A peer's state machine (its handshake, its sessions: previous, current and
// the responder's unconfirmed next, its queue) and the peer table: which peer
// owns an inner address (cryptokey routing, the longest AllowedIPs prefix) and
// which peer and session a receiver index names.
import { randomBytes } from 'node:crypto';
import type { Cidr } from '../../lib';
import type { PeerConfig } from './config';
import {
  consumeResponse,
  createInitiation,
  createResponse,
  remote,
  type HandshakeState,
  type Identity,
  type Remote,
} from './handshake';
import { PeerTimers, type Timing } from './timers';
import { Keypair, openData, sealData, unpad } from './transport';

/** What a peer needs from the interface it belongs to. */
export interface Host {
  readonly local: Identity;
  readonly timing: Timing;
  readonly mtu: number;
  readonly table: PeerTable;
  sendDatagram(peer: Peer, datagram: Buffer): void;
  deliver(packet: Buffer): void;
  log(line: string): void;
}

export interface Endpoint {
  host: string;
  port: number;
}

/** Packets kept while a handshake is under way; more are dropped (oldest first). */
const QUEUE_LIMIT = 256;

export class Peer {
  readonly remote: Remote;
  readonly timers: PeerTimers;
  endpoint: Endpoint | undefined;
  handshake: HandshakeState | undefined;
  previous: Keypair | undefined;
  current: Keypair | undefined;
  next: Keypair | undefined;
  readonly queue: Buffer[] = [];
  #lastInitiationAt = -Infinity;
  #lastMinuteRekeySent = false;
  readonly counts = { handshakes: 0, initiationsSent: 0, sent: 0, received: 0, keepalivesSent: 0, keepalivesReceived: 0 };

  constructor(
    readonly host: Host,
    readonly config: PeerConfig,
  ) {
    this.remote = remote(host.local, config.publicKey, config.presharedKey);
    this.endpoint = config.endpoint;
    this.timers = new PeerTimers(
      host.timing,
      {
        sendInitiation: (retry) => this.sendInitiation(retry),
        sendKeepalive: () => this.sendKeepalive(),
        giveUp: () => {
          this.queue.length = 0;
          this.#dropHandshake();
        },
        eraseKeys: () => {
          for (const k of [this.previous, this.current, this.next]) this.#forget(k);
          this.previous = this.current = this.next = undefined;
          this.#dropHandshake();
        },
      },
      config.persistentKeepalive * 1000,
    );
  }

  get name(): string {
    return this.remote.publicKey.toString('base64').slice(0, 8);
  }

  /** Starts the persistent keepalive (which needs a session: it starts a handshake first). */
  start(): void {
    if (this.config.persistentKeepalive > 0) this.sendKeepalive();
  }

  // ---- Sending ----------------------------------------------------------

  /** Seals `packet` with the current session, or queues it and starts a handshake. */
  sendPacket(packet: Buffer): void {
    const keypair = this.#usableForSending();
    if (keypair === undefined) {
      if (this.queue.push(Buffer.from(packet)) > QUEUE_LIMIT) this.queue.shift();
      this.sendInitiation(false);
      return;
    }
    this.#sendData(keypair, packet);
    this.counts.sent++;
    this.timers.dataSent();
    const { timing } = this.host;
    if (
      keypair.initiator &&
      (Date.now() - keypair.createdAt >= timing.rekeyAfterTime || keypair.sendCounter >= timing.rekeyAfterMessages)
    ) {
      this.sendInitiation(false);
    }
  }

  sendKeepalive(): void {
    const keypair = this.#usableForSending();
    if (keypair === undefined) return this.sendInitiation(false);
    this.#sendData(keypair, Buffer.alloc(0));
    this.counts.keepalivesSent++;
  }

  #sendData(keypair: Keypair, packet: Buffer): void {
    this.host.sendDatagram(this, sealData(keypair, packet, this.host.mtu));
    this.timers.authenticatedSent();
    this.timers.authenticatedTraversed();
  }

  #usableForSending(): Keypair | undefined {
    const k = this.current;
    if (k === undefined) return undefined;
    const { timing } = this.host;
    if (Date.now() - k.createdAt >= timing.rejectAfterTime || k.sendCounter >= timing.rejectAfterMessages) return undefined;
    return k;
  }

  #flushQueue(): void {
    const queued = this.queue.splice(0);
    for (const packet of queued) this.sendPacket(packet);
  }

  /** Sends an initiation unless one went out less than REKEY_TIMEOUT ago (retries always go). */
  sendInitiation(retry: boolean): void {
    const now = Date.now();
    if (this.endpoint === undefined) return;
    if (!retry && now - this.#lastInitiationAt < this.host.timing.rekeyTimeout) return;
    this.#lastInitiationAt = now;
    this.#dropHandshake();
    const localIndex = this.host.table.newIndex({ peer: this });
    const { message, state } = createInitiation(this.host.local, this.remote, localIndex, now);
    this.handshake = state;
    this.counts.initiationsSent++;
    this.host.sendDatagram(this, message);
    this.timers.handshakeInitiated();
    this.timers.authenticatedSent();
    this.timers.authenticatedTraversed();
  }

  // ---- Receiving --------------------------------------------------------

  /** Answers an initiation this peer sent (consumeInitiation checked it): a response and an unconfirmed session. */
  respond(state: HandshakeState, from: Endpoint): void {
    this.#dropHandshake();
    const localIndex = this.host.table.newIndex({ peer: this });
    const { message, keys } = createResponse(state, this.remote, localIndex, Date.now());
    this.#forget(this.next);
    this.next = new Keypair(keys, localIndex, state.remoteIndex, false, Date.now());
    this.host.table.indices.set(localIndex, { peer: this, keypair: this.next });
    this.endpoint = from;
    this.host.sendDatagram(this, message);
    this.counts.handshakes++;
    this.host.log(`Handshake with peer ${this.name} completed (it initiated)`);
    this.timers.sessionDerived();
    this.timers.authenticatedSent();
    this.timers.authenticatedTraversed();
  }

  /** Completes the handshake we initiated; the reason it failed otherwise. */
  onResponse(message: Buffer, from: Endpoint): string | undefined {
    const state = this.handshake;
    if (state === undefined || state.localIndex !== message.readUInt32LE(8)) return 'a response to no initiation of ours';
    const keys = consumeResponse(this.host.local, this.remote, state, message);
    if ('error' in keys) return keys.error;
    this.handshake = undefined;
    const keypair = new Keypair(keys, state.localIndex, message.readUInt32LE(4), true, Date.now());
    this.host.table.indices.set(state.localIndex, { peer: this, keypair });
    this.#forget(this.previous);
    this.#forget(this.next);
    this.next = undefined;
    this.previous = this.current;
    this.current = keypair;
    this.#lastMinuteRekeySent = false;
    this.endpoint = from;
    this.counts.handshakes++;
    this.host.log(`Handshake with peer ${this.name} completed (we initiated)`);
    this.timers.sessionDerived();
    this.timers.authenticatedReceived();
    this.timers.authenticatedTraversed();
    // The responder may send only once it has seen this session used: confirm it now.
    if (this.queue.length > 0) this.#flushQueue();
    else this.sendKeepalive();
    return undefined;
  }

  /** Opens a data message sealed with `keypair`; delivers its packet. The reason it was dropped otherwise. */
  onData(keypair: Keypair, message: Buffer, from: Endpoint): string | undefined {
    const { timing } = this.host;
    if (Date.now() - keypair.createdAt >= timing.rejectAfterTime) return 'a session past REJECT_AFTER_TIME';
    const opened = openData(keypair, message);
    if ('error' in opened) return opened.error === 'replayed' ? 'a replayed counter' : 'a bad authentication tag';
    this.endpoint = from;
    if (keypair === this.next) {
      this.#forget(this.previous);
      this.previous = this.current;
      this.current = keypair;
      this.next = undefined;
      this.#flushQueue();
    }
    this.timers.authenticatedReceived();
    this.timers.authenticatedTraversed();
    if (
      keypair === this.current &&
      keypair.initiator &&
      !this.#lastMinuteRekeySent &&
      Date.now() - keypair.createdAt >= timing.rejectAfterTime - timing.keepaliveTimeout - timing.rekeyTimeout
    ) {
      this.#lastMinuteRekeySent = true;
      this.sendInitiation(false);
    }
    if (opened.plaintext.length === 0) {
      this.counts.keepalivesReceived++;
      return undefined;
    }
    const packet = unpad(opened.plaintext);
    if (packet === null) return 'a payload that is not an IP packet';
    if (this.host.table.ownerOf(sourceOf(packet)) !== this) return 'an inner source address outside its AllowedIPs';
    this.counts.received++;
    this.timers.dataReceived();
    this.host.deliver(packet);
    return undefined;
  }

  #dropHandshake(): void {
    if (this.handshake !== undefined) this.host.table.indices.delete(this.handshake.localIndex);
    this.handshake = undefined;
  }

  #forget(keypair: Keypair | undefined): void {
    if (keypair !== undefined) this.host.table.indices.delete(keypair.localIndex);
  }

  close(): void {
    this.timers.stopAll();
  }
}

/** The source address of an IPv4 or IPv6 packet. */
function sourceOf(packet: Buffer): Buffer {
  return packet[0] >> 4 === 4 ? packet.subarray(12, 16) : packet.subarray(8, 24);
}

/** The destination address of an IPv4 or IPv6 packet, or undefined if it is neither. */
export function destinationOf(packet: Buffer): Buffer | undefined {
  const version = packet[0] >> 4;
  if (version === 4 && packet.length >= 20) return packet.subarray(16, 20);
  if (version === 6 && packet.length >= 40) return packet.subarray(24, 40);
  return undefined;
}

/** What a receiver index names: a peer's handshake in progress, or one of its sessions. */
export interface IndexEntry {
  peer: Peer;
  keypair?: Keypair;
}

export class PeerTable {
  readonly peers: Peer[] = [];
  readonly indices = new Map<number, IndexEntry>();
  readonly #routes: { cidr: Cidr; peer: Peer }[] = [];

  add(peer: Peer): void {
    this.peers.push(peer);
    for (const cidr of peer.config.allowedIps) this.#routes.push({ cidr, peer });
    // Longest prefix first: the first match is the owner.
    this.#routes.sort((a, b) => b.cidr.prefixLength - a.cidr.prefixLength);
  }

  byPublicKey(publicKey: Buffer): Peer | undefined {
    return this.peers.find((p) => p.remote.publicKey.equals(publicKey));
  }

  /** The peer whose AllowedIPs hold `address` most specifically. */
  ownerOf(address: Buffer): Peer | undefined {
    for (const { cidr, peer } of this.#routes) {
      if (cidr.bytes.length === address.length && samePrefix(cidr.bytes, address, cidr.prefixLength)) return peer;
    }
    return undefined;
  }

  /** A fresh random receiver index, registered to `entry`. */
  newIndex(entry: IndexEntry): number {
    for (;;) {
      const index = randomBytes(4).readUInt32LE(0);
      if (!this.indices.has(index)) {
        this.indices.set(index, entry);
        return index;
      }
    }
  }
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff00 >> rest) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}
