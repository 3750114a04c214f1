/**
 * Waiting in tests on what can be observed instead of for a fixed time: a condition polled until it holds
 * (`eventually`, which throws on timeout; `until`, which hands back the last value to assert on), or an event (node's `once` from 'node:events', or `nextEvent` in ./net.ts). Every wait has a
 * generous timeout, so a loaded machine only makes a test slower, never wrong.
 */

/** Polls `fn` until it returns a truthy value; generous timeout for a busy machine. */
export async function eventually<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 30_000, everyMs = 25): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Polls `fn` until `done` holds for its value or `timeoutMs` passes, and returns the last value either way: the
 * test asserts on it, so a timeout fails as an assertion that shows what was seen instead of throwing.
 */
export async function until<T>(fn: () => Promise<T> | T, done: (v: T) => boolean, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Resolves once the clock has moved past `ms` (epoch milliseconds): for a test that needs something to be older
 * than an age limit of a millisecond or two, as measured by the code under test on the same clock.
 */
export async function clockPast(ms: number): Promise<void> {
  await eventually(() => Date.now() > ms, `the clock past ${ms}`, 10_000, 1);
}

/**
 * A bounded wait for a check that nothing happens: there is no event for an absence, so the caller names the
 * time within which it would have happened. Use only for that, with a comment saying why the time is enough.
 */
export function quietFor(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
