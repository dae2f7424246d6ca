/**
 * Coalesces calls of an expensive read (a scan of /proc): every caller gets the result of a run
 * that started after it called, and concurrent callers share runs. While one run is in flight,
 * everyone who asks waits for the one next run, started when the first ends: at most one run
 * goes on and one waits, however many ask (25 power-offs at once were 25 scans of every process).
 *
 *   const scan = coalesce(scanNow);
 *   await Promise.all([scan(), scan(), scan()]); // one or two runs, each fresh for its callers
 */
export function coalesce<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  let next: Promise<T> | null = null;
  const run = (): Promise<T> => {
    const current = work().finally(() => {
      if (running === current) running = null;
    });
    running = current;
    return current;
  };
  return () => {
    if (!running) return run();
    if (!next) {
      // Started after the run in flight ends, so it sees everything its callers saw before asking.
      next = running
        .catch(() => undefined)
        .then(() => {
          next = null;
          return run();
        });
    }
    return next;
  };
}
