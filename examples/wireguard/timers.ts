// The timers of whitepaper section 6: when to retry an initiation, when to
// send a keepalive, when a silent peer needs a new handshake, and when old
// keys must go. Each event the peer reports (data sent, data received, ...)
// arms or stops timers; a timer that fires calls back into the peer.

/** The protocol's constants (whitepaper section 6.1), in milliseconds. */
export interface Timing {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
  rekeyAttemptTime: number;
  rekeyTimeout: number;
  keepaliveTimeout: number;
}

export const TIMING: Timing = {
  rekeyAfterMessages: 2 ** 60,
  // 2^64 - 2^13 - 1 is not exact in a Number; counters stop at 2^53 anyway (transport.ts).
  rejectAfterMessages: Number.MAX_SAFE_INTEGER,
  rekeyAfterTime: 120_000,
  rejectAfterTime: 180_000,
  rekeyAttemptTime: 90_000,
  rekeyTimeout: 5_000,
  keepaliveTimeout: 10_000,
};

/** What the timers ask the peer to do. */
export interface TimerActions {
  sendInitiation(retry: boolean): void;
  sendKeepalive(): void;
  /** REKEY_ATTEMPT_TIME passed without a handshake: drop queued packets, stop trying. */
  giveUp(): void;
  /** Three REJECT_AFTER_TIMEs without a new session: erase every key. */
  eraseKeys(): void;
}

type Name = 'retransmit' | 'keepalive' | 'newHandshake' | 'persistent' | 'erase';

export class PeerTimers {
  readonly #timers = new Map<Name, NodeJS.Timeout>();
  #attempts = 0;
  #anotherKeepalive = false;

  constructor(
    readonly timing: Timing,
    readonly actions: TimerActions,
    /** PersistentKeepalive in ms; 0 is off. */
    readonly persistentKeepalive: number,
  ) {}

  #arm(name: Name, ms: number, fire: () => void): void {
    this.#stop(name);
    // unref: a pending timer never holds the process open on its own.
    this.#timers.set(
      name,
      setTimeout(() => {
        this.#timers.delete(name);
        fire();
      }, ms).unref(),
    );
  }

  #stop(name: Name): void {
    clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }

  #pending(name: Name): boolean {
    return this.#timers.has(name);
  }

  /** An initiation went out: retry after REKEY_TIMEOUT (plus jitter) until REKEY_ATTEMPT_TIME. */
  handshakeInitiated(): void {
    const jitter = Math.floor(Math.random() * Math.min(334, this.timing.rekeyTimeout / 3));
    this.#arm('retransmit', this.timing.rekeyTimeout + jitter, () => {
      if (++this.#attempts > this.timing.rekeyAttemptTime / this.timing.rekeyTimeout) {
        this.#attempts = 0;
        this.actions.giveUp();
      } else this.actions.sendInitiation(true);
    });
  }

  /** A handshake completed (either side): stop retrying; keys live at most 3 x REJECT_AFTER_TIME. */
  sessionDerived(): void {
    this.#attempts = 0;
    this.#stop('retransmit');
    this.#arm('erase', 3 * this.timing.rejectAfterTime, () => this.actions.eraseKeys());
  }

  /** A data packet (not a keepalive) went out: if nothing comes back in time, the session may be dead. */
  dataSent(): void {
    if (!this.#pending('newHandshake')) {
      this.#arm('newHandshake', this.timing.keepaliveTimeout + this.timing.rekeyTimeout, () =>
        this.actions.sendInitiation(false),
      );
    }
  }

  /** Any authenticated packet came in: the session is alive. */
  authenticatedReceived(): void {
    this.#stop('newHandshake');
  }

  /** A data packet (not a keepalive) came in: answer with a keepalive if we have nothing to send. */
  dataReceived(): void {
    if (this.#pending('keepalive')) {
      this.#anotherKeepalive = true;
      return;
    }
    const fire = (): void => {
      this.actions.sendKeepalive();
      if (this.#anotherKeepalive) {
        this.#anotherKeepalive = false;
        this.#arm('keepalive', this.timing.keepaliveTimeout, fire);
      }
    };
    this.#arm('keepalive', this.timing.keepaliveTimeout, fire);
  }

  /** Any authenticated packet went out: no passive keepalive is owed. */
  authenticatedSent(): void {
    this.#stop('keepalive');
  }

  /** Any authenticated packet went either way: restart the persistent keepalive. */
  authenticatedTraversed(): void {
    if (this.persistentKeepalive > 0) this.#arm('persistent', this.persistentKeepalive, () => this.actions.sendKeepalive());
  }

  stopAll(): void {
    for (const name of [...this.#timers.keys()]) this.#stop(name);
  }
}
