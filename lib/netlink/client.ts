// The request/reply half of rtnetlink: replies matched to requests by sequence number, any number
// in flight, everything else handed on as a notification. A request is one non-blocking send.
import { abortError, abortable, listenForAbort } from '../internal/abort';
import { EBADMSG, ENOBUFS } from '../internal/errno';
import { netlinkClosed } from '../internal/errors';
import { native, type CreatedNetlinkSocket, type NetnsTarget } from '../internal/native';
import {
  MalformedMessage,
  NLMSG,
  NLM_F,
  decodeDone,
  decodeError,
  encodeMessage,
  parseDatagram,
  type Attribute,
  type NetlinkMessage,
} from './codec';

/** What the client needs of a socket; the native NetlinkSocket has it. */
export interface NetlinkTransport {
  readonly portId: number;
  /** What the kernel granted for queued messages, in bytes (0 when unknown). */
  readonly receiveBufferSize?: number;
  send(request: Uint8Array): number;
  ref(): void;
  unref(): void;
  close(): void;
}

/** Makes the error a failed request rejects with, from the kernel's answer. */
export type ErrorFactory = (errno: number, kernelMessage?: string) => Error;

export interface Request {
  type: number;
  /** NLM_F_* beyond REQUEST and ACK, which every request carries. */
  flags: number;
  /** The family header (ifinfomsg, ifaddrmsg, rtmsg). */
  fixed: Buffer;
  attributes?: readonly Attribute[];
}

/** A settled request: the data messages of the reply, in order. */
export interface Reply {
  messages: NetlinkMessage[];
  /** The kernel flagged the dump as inconsistent (it changed while dumping). */
  interrupted: boolean;
}

interface Pending {
  messages: NetlinkMessage[];
  interrupted: boolean;
  error: ErrorFactory;
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  /** Stops listening to the request's AbortSignal, if it has one. */
  release?: () => void;
  /** A dump waiting for the one before it to end: the message not sent yet. */
  unsent?: Uint8Array;
}

export interface ClientHandlers {
  /**
   * Every data message, replies included, in the order the kernel queued
   * them; `reply` tells which. Called synchronously, before a reply's promise
   * settles, so a watcher can order a snapshot against later events.
   */
  onMessage?: (message: NetlinkMessage, reply: boolean) => void;
  /** Malformed datagrams and lost multicast (ENOBUFS). */
  onTrouble?: (errno: number, syscall: string, detail?: string) => void;
}

/**
 * Requests settled before their last message came (a malformed or cut
 * datagram in a dump) whose sequence numbers are remembered, so that the
 * rest of their answer is dropped rather than taken for notifications.
 */
const MAX_ABANDONED = 64;
/** The socket buffer we ask for: a burst of events from many links fits. */
export const RECEIVE_BUFFER_SIZE = 4 * 1024 * 1024;

export class NetlinkClient {
  readonly #transport: NetlinkTransport;
  readonly #handlers: ClientHandlers;
  readonly #pending = new Map<number, Pending>();
  /** Sequence numbers of requests settled early, oldest first; see MAX_ABANDONED. */
  readonly #abandoned = new Set<number>();
  #seq: number;
  /**
   * The dump whose answer is still coming (in flight or abandoned). The
   * kernel runs one dump per socket at a time and fails another with EBUSY
   * until the first is read to its end, so later dumps wait here, in order.
   */
  #dumping: number | undefined;
  readonly #waitingDumps: number[] = [];
  #closed = false;
  #holdsLoop = true; // a new uv_poll holds the loop
  #keepAlive: boolean;

  /**
   * A client on a new socket bound to `groups` (0: requests only), made on the thread pool (a
   * setns() pair for `netns` stays off the event loop). An abort closes the socket when it comes.
   */
  static async open(
    groups: number,
    handlers: ClientHandlers = {},
    keepAlive = false,
    netns: NetnsTarget = '',
    signal?: AbortSignal,
  ): Promise<NetlinkClient> {
    const opening = native.NetlinkSocket.open(groups, RECEIVE_BUFFER_SIZE, netns);
    const created = signal === undefined ? await opening : await abortable(opening, signal, (late) => late.fd.close());
    return NetlinkClient.#wrap(created, handlers, keepAlive);
  }

  /**
   * open() on the JS thread, for a caller that must be subscribed before it
   * returns (a TunDevice's link events, opened from an 'on()' call).
   */
  static openSync(groups: number, handlers: ClientHandlers = {}, keepAlive = false, netns: NetnsTarget = ''): NetlinkClient {
    return NetlinkClient.#wrap(native.NetlinkSocket.openSync(groups, RECEIVE_BUFFER_SIZE, netns), handlers, keepAlive);
  }

  static #wrap(created: CreatedNetlinkSocket, handlers: ClientHandlers, keepAlive: boolean): NetlinkClient {
    let client: NetlinkClient | undefined;
    // Takes created.fd over, even if it throws.
    const socket = new native.NetlinkSocket(
      created.fd,
      created.portId,
      (batch, lengths) => client?.receive(batch, lengths),
      (errno, syscall) => client?.trouble(errno, syscall),
    );
    client = new NetlinkClient(socket, handlers, keepAlive);
    return client;
  }

  /**
   * `keepAlive`: hold the event loop open for as long as the client is open
   * (a watcher). Otherwise only while a request is in flight, like a DNS lookup.
   */
  constructor(transport: NetlinkTransport, handlers: ClientHandlers = {}, keepAlive = false) {
    this.#transport = transport;
    this.#handlers = handlers;
    this.#keepAlive = keepAlive;
    // Start away from 0 and from other sockets' counters; it only has to be
    // unique among this socket's requests in flight.
    this.#seq = (Date.now() & 0xffff) << 8;
    this.#updateRef();
  }

  /** The socket's receive buffer as the kernel granted it, in bytes. */
  get receiveBufferSize(): number {
    return this.#transport.receiveBufferSize ?? 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Requests in flight. */
  get pending(): number {
    return this.#pending.size;
  }

  setKeepAlive(keepAlive: boolean): void {
    this.#keepAlive = keepAlive;
    this.#updateRef();
  }

  /**
   * Sends a request; settles with the reply's data messages or the kernel's error. An abort
   * rejects at once and drops the reply; rtnetlink acts inside the send, so a sent change stays made.
   */
  request(request: Request, error: ErrorFactory, signal?: AbortSignal): Promise<Reply> {
    if (this.#closed) return Promise.reject(netlinkClosed());
    if (signal?.aborted) return Promise.reject(abortError(signal));
    do {
      this.#seq = (this.#seq + 1) >>> 0 || 1;
    } while (this.#pending.has(this.#seq) || this.#abandoned.has(this.#seq));
    const seq = this.#seq;
    const message = encodeMessage(
      request.type,
      request.flags | NLM_F.REQUEST | NLM_F.ACK,
      seq,
      request.fixed,
      request.attributes,
    );
    const dump = (request.flags & NLM_F.DUMP) === NLM_F.DUMP;
    return new Promise<Reply>((resolve, reject) => {
      const p: Pending = { messages: [], interrupted: false, error, resolve, reject };
      if (dump && this.#dumping !== undefined) {
        p.unsent = message;
        this.#waitingDumps.push(seq);
      } else {
        const sent = this.#transport.send(message);
        if (sent < 0) {
          reject(error(-sent));
          return;
        }
        if (dump) this.#dumping = seq;
      }
      if (signal !== undefined) {
        const onAbort = (): void => {
          if (this.#pending.get(seq) !== p) return;
          this.#pending.delete(seq);
          // A sent request's answer is still coming: drop it, and keep its
          // number out of use until it has. An unsent one is simply forgotten.
          if (p.unsent === undefined) this.#abandon(seq);
          this.#updateRef();
          reject(abortError(signal));
        };
        p.release = listenForAbort(signal, onAbort);
      }
      this.#pending.set(seq, p);
      this.#updateRef();
    });
  }

  /** Feeds datagrams received from the socket (back to back in `batch`). */
  receive(batch: Buffer, lengths: readonly number[]): void {
    let offset = 0;
    for (const length of lengths) {
      const datagram = batch.subarray(offset, Math.min(offset + length, batch.length));
      offset += length;
      const parsed = parseDatagram(datagram);
      for (const message of parsed.messages) this.#dispatch(message);
      if (parsed.malformed !== undefined) this.#malformed(parsed.malformed, parsed.brokenSeq, parsed.brokenPid);
    }
  }

  /** A socket-level problem reported by the native side. */
  trouble(errno: number, syscall: string): void {
    // Without groups, ENOBUFS means replies were lost: nothing in flight can finish.
    if (errno === ENOBUFS && this.#pending.size > 0) this.#failAll(errno);
    this.#handlers.onTrouble?.(errno, syscall);
  }

  /** Closes the socket; requests in flight reject with ERR_NETLINK_CLOSED. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.close();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#waitingDumps.length = 0;
    for (const p of pending) {
      p.release?.();
      p.reject(netlinkClosed());
    }
  }

  #dispatch(message: NetlinkMessage): void {
    const ours = message.pid === this.#transport.portId;
    if (ours && this.#abandoned.has(message.seq)) {
      // The rest of an answer we already gave up on: its end releases the number.
      if (message.type === NLMSG.DONE || message.type === NLMSG.ERROR) {
        this.#abandoned.delete(message.seq);
        if (message.seq === this.#dumping) this.#nextDump();
      }
      return;
    }
    const p = ours ? this.#pending.get(message.seq) : undefined;
    if (p === undefined) {
      // A notification (or a late answer to a request that is gone).
      if (message.type >= 16) this.#handlers.onMessage?.(message, false);
      return;
    }
    switch (message.type) {
      case NLMSG.NOOP:
        return;
      case NLMSG.ERROR: {
        const answer = decodeError(message);
        if (answer instanceof MalformedMessage) this.#settle(message.seq, answer.reason, EBADMSG);
        else if (answer.errno === 0) this.#settle(message.seq);
        else this.#settle(message.seq, answer.kernelMessage, answer.errno);
        return;
      }
      case NLMSG.DONE: {
        const errno = decodeDone(message);
        if (errno !== 0) this.#settle(message.seq, undefined, errno);
        else this.#settle(message.seq);
        return;
      }
      case NLMSG.OVERRUN:
        this.#settle(message.seq, 'netlink overrun', ENOBUFS);
        return;
      default:
        if ((message.flags & NLM_F.DUMP_INTR) !== 0) p.interrupted = true;
        p.messages.push(message);
        this.#handlers.onMessage?.(message, true);
    }
  }

  #settle(seq: number, kernelMessage?: string, errno = 0): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    this.#updateRef();
    p.release?.();
    // Every way a request settles ends its dump as far as we can tell (a
    // malformed or lost answer too: then the next may meet EBUSY, no worse).
    if (seq === this.#dumping) this.#nextDump();
    if (errno === 0) p.resolve({ messages: p.messages, interrupted: p.interrupted });
    else p.reject(p.error(errno, kernelMessage));
  }

  /** Sends the oldest waiting dump, now that the socket's dump has ended. */
  #nextDump(): void {
    this.#dumping = undefined;
    while (this.#dumping === undefined && this.#waitingDumps.length > 0) {
      const seq = this.#waitingDumps.shift() as number;
      const p = this.#pending.get(seq);
      if (p?.unsent === undefined) continue; // aborted while it waited
      const sent = this.#transport.send(p.unsent);
      p.unsent = undefined;
      if (sent < 0) this.#settle(seq, undefined, -sent);
      else this.#dumping = seq;
    }
  }

  #malformed(malformed: MalformedMessage, seq: number | undefined, pid: number | undefined): void {
    // The unreadable reply may have ended a request: fail it rather than leave it waiting, and
    // treat the rest of a cut dump as that request's, not the watchers'.
    if (seq !== undefined && pid === this.#transport.portId && this.#pending.has(seq)) {
      this.#settle(seq, `malformed reply: ${malformed.reason}`, EBADMSG);
      this.#abandon(seq);
    }
    this.#handlers.onTrouble?.(EBADMSG, 'recv', malformed.reason);
  }

  #failAll(errno: number): void {
    for (const seq of [...this.#pending.keys()]) {
      this.#settle(seq, 'replies were lost: the socket buffer overflowed', errno);
      this.#abandon(seq);
    }
  }

  #abandon(seq: number): void {
    this.#abandoned.add(seq);
    // An answer whose end never comes (it was in the cut datagram) would
    // keep its number for ever: forget the oldest beyond the bound.
    if (this.#abandoned.size > MAX_ABANDONED) this.#abandoned.delete(this.#abandoned.values().next().value as number);
  }

  #updateRef(): void {
    if (this.#closed) return;
    const hold = this.#keepAlive || this.#pending.size > 0;
    if (hold === this.#holdsLoop) return;
    this.#holdsLoop = hold;
    if (hold) this.#transport.ref();
    else this.#transport.unref();
  }
}
