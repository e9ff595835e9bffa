// Helpers for the netlink tests: awaiting one matching event, and `ip` output
// reduced to what the library reports.
import type { EventEmitter } from 'node:events';
import { ipJson } from './helpers';

/** Resolves with the first `event` whose argument passes `match`; fails after timeoutMs. */
export function nextEvent<T>(
  emitter: EventEmitter,
  event: string,
  match: (value: T) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no matching '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (value: T): void => {
      if (!match(value)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(value);
    };
    emitter.on(event, listener);
  });
}

interface IpAddr {
  family: string;
  local: string;
  prefixlen: number;
}

/** The addresses `ip -j addr` shows on a device, as 'address/prefix' strings, sorted. */
export function ipAddresses(device: string): string[] {
  const [link] = ipJson<{ addr_info: IpAddr[] }>('addr', 'show', 'dev', device);
  return link.addr_info.map((a) => `${a.local}/${a.prefixlen}`).sort();
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  txqlen: number;
  address?: string;
  link_type: string;
  stats64?: {
    rx: { bytes: number; packets: number; errors: number; dropped: number };
    tx: { bytes: number; packets: number; errors: number; dropped: number };
  };
}

/** `ip -j -s link show dev X`. */
export function ipLink(device: string): IpLink {
  return ipJson<IpLink>('-s', 'link', 'show', 'dev', device)[0];
}
