/**
 * The reading side of ./loop-lag.mjs: `lagProbeEnv(dir)` is what a process needs to be measured,
 * `readLag(dir, pid)` signals it and returns what its event loop did since the previous reading.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const probe = fileURLToPath(new URL("./loop-lag.mjs", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Lag {
  pid: number;
  at: number;
  samples: number;
  /** Event-loop delay beyond the 10 ms timer, in ms. */
  p50: number;
  p99: number;
  max: number;
}

export function lagProbeEnv(dir: string): Record<string, string> {
  return { NODE_OPTIONS: `--import "${probe}"`, ZAPHOD_BENCH_LAG_DIR: dir };
}

/** Signals `pid` and waits (up to 5 s) for its figures since the previous signal. */
export async function readLag(dir: string, pid: number | undefined): Promise<Lag> {
  if (!pid) throw new Error("no process to read the event-loop lag of");
  const file = join(dir, `${pid}.json`);
  const since = Date.now();
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 100; i++) {
    if (existsSync(file)) {
      const lag = JSON.parse(readFileSync(file, "utf8")) as Lag;
      if (lag.at >= since) return lag;
    }
    await sleep(50);
  }
  throw new Error(
    `process ${pid} wrote no event-loop figures (is it preloaded with bench/lib/loop-lag.mjs?)`,
  );
}
