// Node's AbortSignal conventions for a promise that cannot itself be cancelled.

/**
 * Calls `listener` once when `signal` aborts. Returns what removes it: call
 * that when the work ends first, or the signal keeps the work (and whatever
 * it holds, a closed device) reachable for as long as the signal lives.
 */
export function listenForAbort(signal: AbortSignal, listener: () => void): () => void {
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * `work`, or an AbortError as soon as `signal` aborts; a result that arrives
 * after the abort is handed to `discard` (an fd to close), not lost.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, discard: (late: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stopListening = listenForAbort(signal, () => reject(abortError(signal)));
    work.then(
      (value) => {
        stopListening();
        if (signal.aborted) discard(value);
        else resolve(value);
      },
      (error: unknown) => {
        stopListening();
        reject(error);
      },
    );
  });
}

/** Node's AbortError: name 'AbortError', code 'ABORT_ERR', the signal's reason as cause. */
export function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}
