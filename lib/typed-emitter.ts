// The typed face of an EventEmitter: typed-emitter's idea (an interface over
// Node's EventEmitter, keyed by an events map), declared here so the package's
// .d.ts refers to nothing users must install. typed-emitter itself is types
// only and pulls rxjs into an install for its optional rxjs typings; a test
// (test/types) checks that a TunDevice still is a typed-emitter TypedEmitter.

/** Event names to listener signatures, as in {@link TunDeviceEvents}. */
export type EventMap = { [event: string]: (...args: never[]) => void };

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
  addListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  on<E extends keyof Events>(event: E, listener: Events[E]): this;
  once<E extends keyof Events>(event: E, listener: Events[E]): this;
  prependListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  prependOnceListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  off<E extends keyof Events>(event: E, listener: Events[E]): this;
  removeListener<E extends keyof Events>(event: E, listener: Events[E]): this;
  removeAllListeners<E extends keyof Events>(event?: E): this;
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean;
  eventNames(): (keyof Events | string | symbol)[];
  listeners<E extends keyof Events>(event: E): Events[E][];
  rawListeners<E extends keyof Events>(event: E): Events[E][];
  listenerCount<E extends keyof Events>(event: E): number;
  getMaxListeners(): number;
  setMaxListeners(maxListeners: number): this;
}
