// Link-state events for one interface (what TunDevice emits as 'linkChange',
// 'up', 'down', 'addressAdded', 'addressRemoved').
//
// One socket both subscribes to the groups and asks for the link's state, so
// the snapshot and the events come through one queue in the kernel's order:
// an event queued before the snapshot's reply is older than the snapshot, and
// one queued after it is newer. That is what lets 'up'/'down' be reported as
// changes without guessing the state they changed from.
import { ENOBUFS } from '../internal/errno';
import { TunError, fromNative } from '../internal/errors';
import type { NetnsTarget } from '../internal/native';
import { NetlinkClient } from './client';
import { netnsContext } from './netns';
import {
  AF_UNSPEC,
  MalformedMessage,
  RTM,
  RTMGRP,
  decodeAddress,
  decodeLink,
  ifinfomsg,
  linkFamily,
  type AddressInfo,
  type LinkInfo,
  type NetlinkMessage,
} from './codec';

export interface LinkEventSink {
  linkChange(link: LinkInfo): void;
  up(link: LinkInfo): void;
  down(link: LinkInfo): void;
  addressAdded(address: AddressInfo): void;
  addressRemoved(address: AddressInfo): void;
}

export class LinkMonitor {
  readonly #index: number;
  readonly #sink: LinkEventSink;
  readonly #client: NetlinkClient;
  #up: boolean | undefined;

  /** `netns`: the namespace the device lives in ('' for ours); its index means something only there. */
  /** `keepAlive`: hold the event loop open while listening (false: like an unref'd socket). */
  constructor(index: number, sink: LinkEventSink, netns: NetnsTarget = '', keepAlive = true) {
    this.#index = index;
    this.#sink = sink;
    // Made on the JS thread, not the pool, on purpose: the monitor starts
    // from dev.on('up', ...), which cannot wait, and a caller may change the
    // link on the very next line (`dev.on('up', f); await dev.up()`). The
    // socket must be subscribed before on() returns, or that change could
    // reach the kernel before our bind and be taken for the starting state
    // of the snapshot: the 'up' event would be lost. In our own namespace
    // that is one socket() and bind(); a device in another namespace adds a
    // setns() pair (about 0.06 ms here, by bench/netlink-open.ts).
    try {
      this.#client = NetlinkClient.openSync(
        RTMGRP.LINK | RTMGRP.IPV4_IFADDR | RTMGRP.IPV6_IFADDR,
        {
          onMessage: (m, reply) => this.#onMessage(m, reply),
          // Lost events: ask again; the answer is compared with what we knew.
          onTrouble: (errno) => {
            if (errno === ENOBUFS) this.#snapshot();
          },
        },
        // Someone awaits these events: keep the process alive like a listening socket.
        keepAlive,
        netns,
      );
    } catch (error) {
      throw fromNative(error, netnsContext(netns));
    }
    this.#snapshot();
  }

  close(): void {
    this.#client.close();
  }

  setKeepAlive(keepAlive: boolean): void {
    this.#client.setKeepAlive(keepAlive);
  }

  #snapshot(): void {
    // The reply is handled in #onMessage, in queue order; the promise only
    // says the request is over (or the link is gone, which the device reports itself).
    this.#client
      .request(
        { type: RTM.GETLINK, flags: 0, fixed: ifinfomsg(AF_UNSPEC, this.#index) },
        (errno) => new TunError(errno, 'netlink RTM_GETLINK'),
      )
      .catch(() => {});
  }

  #onMessage(m: NetlinkMessage, reply: boolean): void {
    if (m.type === RTM.NEWLINK) {
      if (linkFamily(m) !== AF_UNSPEC) return;
      const link = decodeLink(m);
      if (link instanceof MalformedMessage || link.index !== this.#index) return;
      const before = this.#up;
      this.#up = link.up;
      // The first snapshot (or an event queued before it) only sets what we know.
      if (before === undefined) return;
      if (!reply || before !== link.up) this.#sink.linkChange(link);
      if (before !== link.up) (link.up ? this.#sink.up : this.#sink.down).call(this.#sink, link);
    } else if (!reply && (m.type === RTM.NEWADDR || m.type === RTM.DELADDR)) {
      const address = decodeAddress(m);
      if (address instanceof MalformedMessage || address.index !== this.#index) return;
      if (m.type === RTM.NEWADDR) this.#sink.addressAdded(address);
      else this.#sink.addressRemoved(address);
    }
  }
}
