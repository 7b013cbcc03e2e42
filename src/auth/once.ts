/** `fn` wrapped to run on its first call only: a hold or a slot is released once, however often its end is reported. */
export function once<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  let done = false;
  return (...args: A) => {
    if (done) return;
    done = true;
    fn(...args);
  };
}
