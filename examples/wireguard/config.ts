// Keys and configuration in the format `wg setconf` reads: an [Interface]
// section (PrivateKey, ListenPort) and [Peer] sections (PublicKey,
// PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive), keys as base64 of
// 32 bytes. wg-quick's own keys (Address, DNS, ...) are refused, so a file is
// read the way `wg` would read it or not at all.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { parseCidr, type Cidr } from '../../lib';
import { KEY_LENGTH, privateKeyObject, rawPublicKey } from './noise';
import { parseEndpoint } from '../common';

export interface PeerConfig {
  publicKey: Buffer;
  presharedKey: Buffer;
  endpoint?: { host: string; port: number };
  allowedIps: Cidr[];
  /** Seconds; 0 is off. */
  persistentKeepalive: number;
}

export interface InterfaceConfig {
  privateKey: KeyObject;
  publicKey: Buffer;
  listenPort: number;
  peers: PeerConfig[];
}

/** A 32-byte key from its base64 text, as `wg genkey`, `wg pubkey` and `wg genpsk` print it. */
export function parseKey(text: string, what: string): Buffer {
  const key = Buffer.from(text, 'base64');
  if (key.length !== KEY_LENGTH || key.toString('base64') !== text) {
    throw new Error(`${what} must be 32 bytes in base64 (44 characters, as wg genkey prints), not ${JSON.stringify(text)}`);
  }
  return key;
}

/** The public key `wg pubkey` prints for a base64 private key. */
export function publicKeyOf(privateKey: Buffer): Buffer {
  return rawPublicKey(createPublicKey(privateKeyObject(privateKey)));
}

function endpointOf(text: string): { host: string; port: number } {
  const parsed = parseEndpoint(text);
  if (parsed === null) {
    throw new Error(`Endpoint must be address:port, such as 192.0.2.1:51820 or [fd00::1]:51820, not ${JSON.stringify(text)}`);
  }
  return parsed;
}

function parseNumber(text: string, what: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) > max) throw new Error(`${what} must be a number from 0 to ${max}, not ${text}`);
  return Number(text);
}

/** Parses the text of a `wg setconf` file. */
export function parseConfig(text: string): InterfaceConfig {
  let privateKey: Buffer | undefined;
  let listenPort = 0;
  const peers: PeerConfig[] = [];
  let section: 'Interface' | 'Peer' | undefined;
  let peer: Partial<PeerConfig> | undefined;
  const finishPeer = (): void => {
    if (peer === undefined) return;
    if (peer.publicKey === undefined) throw new Error('a [Peer] section has no PublicKey');
    peers.push({
      publicKey: peer.publicKey,
      presharedKey: peer.presharedKey ?? Buffer.alloc(KEY_LENGTH),
      endpoint: peer.endpoint,
      allowedIps: peer.allowedIps ?? [],
      persistentKeepalive: peer.persistentKeepalive ?? 0,
    });
    peer = undefined;
  };
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const heading = /^\[(\w+)\]$/.exec(line);
    if (heading !== null) {
      finishPeer();
      if (heading[1] !== 'Interface' && heading[1] !== 'Peer') throw new Error(`line ${n + 1}: unknown section [${heading[1]}]`);
      section = heading[1];
      if (section === 'Peer') peer = {};
      continue;
    }
    const pair = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (pair === null || section === undefined) throw new Error(`line ${n + 1}: expected "Key = value" inside a section`);
    const [, key, value] = pair;
    if (section === 'Interface' && key === 'PrivateKey') privateKey = parseKey(value, 'PrivateKey');
    else if (section === 'Interface' && key === 'ListenPort') listenPort = parseNumber(value, 'ListenPort', 65535);
    else if (peer !== undefined && key === 'PublicKey') peer.publicKey = parseKey(value, 'PublicKey');
    else if (peer !== undefined && key === 'PresharedKey') peer.presharedKey = parseKey(value, 'PresharedKey');
    else if (peer !== undefined && key === 'Endpoint') peer.endpoint = endpointOf(value);
    else if (peer !== undefined && key === 'AllowedIPs') {
      peer.allowedIps = [...(peer.allowedIps ?? []), ...value.split(',').map((c) => parseCidr(c.trim(), 'AllowedIPs', true))];
    } else if (peer !== undefined && key === 'PersistentKeepalive') {
      peer.persistentKeepalive = value === 'off' ? 0 : parseNumber(value, 'PersistentKeepalive', 65535);
    } else throw new Error(`line ${n + 1}: ${key} is not a [${section}] key this example knows`);
  }
  finishPeer();
  if (privateKey === undefined) throw new Error('the [Interface] section needs a PrivateKey');
  const keyObject = privateKeyObject(privateKey);
  return { privateKey: keyObject, publicKey: publicKeyOf(privateKey), listenPort, peers };
}
