// Link-state events for one interface ('linkChange', 'up', 'down', 'addressAdded', ...). One
// socket subscribes and asks for the snapshot, so both arrive in the kernel's order and 'up'/'down'
// are reported as changes without guessing the state they changed from.
import { ENOBUFS } from '../internal/errno';
import { TunError, fromNative } from '../internal/errors';
import type { NetnsTarget } from '../internal/native';
import { NetlinkClient } from './client';
import { netnsContext } from './netns';
import { AF_UNSPEC, MalformedMessage, RTM, RTMGRP, ifinfomsg, type NetlinkMessage } from './codec';
import { decodeAddress, decodeLink, linkFamily, type AddressInfo, type LinkInfo } from './decode';

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
    // Made on the JS thread: dev.on('up', f) cannot wait, and a change on the next line must not
    // reach the kernel before our bind, or it would be taken for the snapshot's starting state.
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
