/** Small waits. Their timers are unref'd: a wait never keeps a stopping agent alive. */

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Polls `probe` until it gives a value, `timeoutMs` passes or `signal` aborts (then null). */
export async function waitFor<T>(
  probe: () => Promise<T | null>,
  timeoutMs: number,
  everyMs = 200,
  signal?: AbortSignal,
): Promise<T | null> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !signal?.aborted) {
    const value = await probe();
    if (value) return value;
    await sleep(Math.min(everyMs, Math.max(0, until - Date.now())), signal);
  }
  return null;
}
