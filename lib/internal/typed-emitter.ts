// typed-emitter's idea, declared here so the package's .d.ts needs nothing users must install
// (typed-emitter pulls in rxjs); test/types checks a TunDevice still is its TypedEmitter.

/** Event names to listener signatures, as in {@link TunDeviceEvents}. */
export type EventMap = {
  /** The listener signature of one event. */
  [event: string]: (...args: never[]) => void;
};

/**
 * Node's EventEmitter with event names and listener signatures checked
 * against `Events`.
 *
 * ```ts
 * dev.on('linkChange', (link) => console.log(link.operState)); // link: LinkInfo
 * dev.on('lnkChange', () => {}); // does not compile
 * ```
 */
export interface TypedEmitter<Events extends EventMap> {
  /** Adds `listener` for `event` (as `on`). */
  addListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Adds `listener` for `event`; it is called with the arguments `Events[event]` names. */
  on<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Adds `listener` for the next `event` only. */
  once<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Adds `listener` for `event` before the ones already there. */
  prependListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Adds `listener` for the next `event` only, before the ones already there. */
  prependOnceListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Removes `listener` from `event` (as `removeListener`). */
  off<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Removes `listener` from `event`. */
  removeListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  /** Removes every listener of `event`, or of every event. */
  removeAllListeners<E extends keyof Events>(event?: E): this;
  /** Calls `event`'s listeners with `args`; true if there were any. */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean;
  /** The events that have listeners. */
  eventNames(): (keyof Events | string | symbol)[];
  /** `event`'s listeners. */
  listeners<E extends keyof Events>(event: E): Events[E][];
  /** `event`'s listeners, with the wrappers `once` adds. */
  rawListeners<E extends keyof Events>(event: E): Events[E][];
  /** How many listeners `event` has. */
  listenerCount<E extends keyof Events>(event: E): number;
  /** The listener count above which Node warns of a leak. */
  getMaxListeners(): number;
  /** Sets the listener count above which Node warns of a leak. */
  setMaxListeners(maxListeners: number): this;
}
