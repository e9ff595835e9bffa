// The events a TunDevice emits, and which of them need a netlink socket.
import type { StateError, TunError } from '../internal/errors';
import type { AddressInfo, LinkInfo } from '../netlink/decode';

/**
 * The events a TunDevice emits.
 *
 * ```ts
 * dev.on('drop', (packet, error) => console.warn(`dropped ${packet.length} bytes: ${error.code}`));
 * dev.on('down', (link) => console.log(`${link.name} went down`));
 * ```
 */
export type TunDeviceEvents = {
  /** The device is closed: the fd is released and both streams are done. */
  close: () => void;
  /** A fatal error (the fd broke, the device was deleted); `close` follows. */
  error: (error: Error) => void;
  /**
   * One packet was not written and `writable` goes on: the kernel refused it (a TunError), its
   * memory was detached while queued (ERR_PACKET_DETACHED, empty packet), or destroy() discarded it.
   */
  drop: (packet: Buffer, error: TunError | StateError) => void;
  /**
   * The link changed (flags, MTU, carrier, name), whoever changed it. Link
   * events start with the first listener for one of them.
   */
  linkChange: (link: LinkInfo) => void;
  /** The link was brought up (IFF_UP), by this process or another. */
  up: (link: LinkInfo) => void;
  /** The link was taken down. */
  down: (link: LinkInfo) => void;
  /** An address was added to the device. */
  addressAdded: (address: AddressInfo) => void;
  /** An address was removed from the device. */
  addressRemoved: (address: AddressInfo) => void;
};

/** The events that come from the kernel's link notifications (a netlink socket opened for them). */
export const LINK_EVENTS = new Set<string | symbol>(['linkChange', 'up', 'down', 'addressAdded', 'addressRemoved']);
