/**
 * Event-loop lag of a process a bench starts, without touching the product: preloaded with
 * `NODE_OPTIONS=--import <this file>` and `ZAPHOD_BENCH_LAG_DIR=<dir>`, it keeps a
 * `monitorEventLoopDelay` histogram (10 ms resolution, Node's default). Each SIGUSR2 writes what it
 * saw since the previous signal (or the start) to `<dir>/<pid>.json` in milliseconds and starts
 * afresh, so a bench signals once before the window it measures and once after it
 * (./loop-lag-read.ts). Without the variable it does nothing (a child that inherits NODE_OPTIONS).
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";

const dir = process.env.ZAPHOD_BENCH_LAG_DIR;
if (dir) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  process.on("SIGUSR2", () => {
    const ms = (ns) => ns / 1e6;
    const figures = {
      pid: process.pid,
      at: Date.now(),
      samples: histogram.count,
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
    };
    histogram.reset();
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(figures));
    renameSync(`${file}.tmp`, file);
  });
}
