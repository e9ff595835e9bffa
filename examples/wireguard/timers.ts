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

/**
 * One named timer, armed lazily: arming or stopping it only moves its
 * deadline (0: stopped), so a packet costs no setTimeout; the Node timer
 * behind it wakes at the old deadline and sleeps again until the new one.
 */
class LazyTimer {
  deadline = 0;
  #handle: NodeJS.Timeout | undefined;
  #wakesAt = 0;
  fire: () => void = () => {};

  arm(ms: number, fire: () => void): void {
    this.deadline = Date.now() + ms;
    this.fire = fire;
    if (this.#handle === undefined || this.#wakesAt > this.deadline) this.#schedule(ms);
  }

  stop(): void {
    this.deadline = 0;
  }

  /** Clears the Node timer too, so nothing is left scheduled. */
  cancel(): void {
    this.deadline = 0;
    clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #schedule(ms: number): void {
    clearTimeout(this.#handle);
    this.#wakesAt = Date.now() + ms;
    // unref: a pending timer never holds the process open on its own.
    this.#handle = setTimeout(this.#wake, ms).unref();
  }

  readonly #wake = (): void => {
    this.#handle = undefined;
    if (this.deadline === 0) return;
    const left = this.deadline - Date.now();
    if (left > 0) return this.#schedule(left);
    this.deadline = 0;
    this.fire();
  };
}

export class PeerTimers {
  readonly #timers: Record<Name, LazyTimer> = {
    retransmit: new LazyTimer(),
    keepalive: new LazyTimer(),
    newHandshake: new LazyTimer(),
    persistent: new LazyTimer(),
    erase: new LazyTimer(),
  };
  #attempts = 0;
  #anotherKeepalive = false;

  constructor(
    readonly timing: Timing,
    readonly actions: TimerActions,
    /** PersistentKeepalive in ms; 0 is off. */
    readonly persistentKeepalive: number,
  ) {}

  #arm(name: Name, ms: number, fire: () => void): void {
    this.#timers[name].arm(ms, fire);
  }

  #stop(name: Name): void {
    this.#timers[name].stop();
  }

  #pending(name: Name): boolean {
    return this.#timers[name].deadline !== 0;
  }

  // Made once: the per-packet events arm timers with these, not with a closure each time.
  readonly #sendInitiation = (): void => this.actions.sendInitiation(false);
  readonly #sendKeepalive = (): void => this.actions.sendKeepalive();
  readonly #passiveKeepalive = (): void => {
    this.actions.sendKeepalive();
    if (this.#anotherKeepalive) {
      this.#anotherKeepalive = false;
      this.#arm('keepalive', this.timing.keepaliveTimeout, this.#passiveKeepalive);
    }
  };

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
      this.#arm('newHandshake', this.timing.keepaliveTimeout + this.timing.rekeyTimeout, this.#sendInitiation);
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
    this.#arm('keepalive', this.timing.keepaliveTimeout, this.#passiveKeepalive);
  }

  /** Any authenticated packet went out: no passive keepalive is owed. */
  authenticatedSent(): void {
    this.#stop('keepalive');
  }

  /** Any authenticated packet went either way: restart the persistent keepalive. */
  authenticatedTraversed(): void {
    if (this.persistentKeepalive > 0) this.#arm('persistent', this.persistentKeepalive, this.#sendKeepalive);
  }

  stopAll(): void {
    for (const timer of Object.values(this.#timers)) timer.cancel();
  }
}
