// A device's rtnetlink: one Netlink for its link helpers, opened on first use,
// and the link-event monitor, open only while someone listens. Both act by
// index in the device's namespace, so a rename does not matter.
import type { NativeNetnsFile } from '../internal/native';
import { kLinkNames, openNetlink, type Netlink } from '../netlink/api';
import { LinkMonitor, type LinkEventSink } from '../netlink/device-link';
import { netnsTarget } from '../netlink/netns';
import { LINK_EVENTS } from './events';
import type { DeviceCore } from './symbols';

export class DeviceLink {
  readonly #device: DeviceCore;
  readonly #index: number;
  readonly #netnsFile: NativeNetnsFile | undefined;
  readonly #sink: LinkEventSink;
  #netlink: Netlink | undefined;
  #monitor: LinkMonitor | undefined;

  constructor(device: DeviceCore, index: number, netnsFile: NativeNetnsFile | undefined, sink: LinkEventSink) {
    this.#device = device;
    this.#index = index;
    this.#netnsFile = netnsFile;
    this.#sink = sink;
  }

  /** The device's Netlink for `what`; throws ERR_DEVICE_CLOSED once the device is closed. */
  netlink(what: string): Netlink {
    this.#device.assertOpen(what);
    if (this.#netlink === undefined) {
      // The device's index names it only in its own namespace.
      this.#netlink = openNetlink(netnsTarget(this.#netnsFile));
      this.#netlink[kLinkNames].set(this.#index, this.#device.name);
    }
    return this.#netlink;
  }

  /** A listener for `event` was added: link events start with the first one. */
  listenerAdded(event: string | symbol, keepAlive: boolean): void {
    if (this.#device.isClosed() || this.#monitor !== undefined || !LINK_EVENTS.has(event)) return;
    this.#monitor = new LinkMonitor(this.#index, this.#sink, netnsTarget(this.#netnsFile), keepAlive);
  }

  /** A listener for `event` was removed: the monitor closes with the last one (`listened` says if any is left). */
  listenerRemoved(event: string | symbol, listened: (event: string | symbol) => boolean): void {
    if (this.#monitor === undefined || !LINK_EVENTS.has(event)) return;
    for (const name of LINK_EVENTS) if (listened(name)) return;
    this.#monitor.close();
    this.#monitor = undefined;
  }

  /** Whether the monitor's socket holds the event loop open (ref()/unref()). */
  setKeepAlive(keepAlive: boolean): void {
    this.#monitor?.setKeepAlive(keepAlive);
  }

  close(): void {
    this.#monitor?.close();
    this.#monitor = undefined;
    this.#netlink?.close();
    this.#netlink = undefined;
  }
}
