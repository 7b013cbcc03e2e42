import { fromTransportError, type PresenceClientError } from './errors.js';
import type { Callbacks } from './types.js';

/**
 * Runs one API call and reports its outcome both ways: to GoEasy-style `onSuccess` / `onFailed`, and
 * as the returned Promise, which rejects with a `PresenceClientError`. When callbacks are given the
 * Promise's rejection counts as handled, so callback-only code does not trip unhandled-rejection
 * handlers; exceptions thrown by the callbacks themselves are not swallowed.
 */
export function settle<T>(work: () => Promise<T>, callbacks: Callbacks<T> = {}): Promise<T> {
  let started: Promise<T>;
  try {
    started = work();
  } catch (error) {
    started = Promise.reject(error);
  }
  const outcome = started.catch((error: unknown) => {
    throw fromTransportError(error);
  });
  const { onSuccess, onFailed } = callbacks;
  if (onSuccess || onFailed) {
    void outcome.then(
      (result) => onSuccess?.(result),
      (error: PresenceClientError) => onFailed?.({ code: error.code, content: error.content }),
    );
  }
  return outcome;
}

/** Rejects with `onTimeout()` if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
