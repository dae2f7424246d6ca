import { describe, expect, it } from "vitest";
import { sleep, waitFor } from "./wait";

describe("waits", () => {
  it("sleep ends at once when its signal aborts", async () => {
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 20);
    await sleep(10_000, stop.signal);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("waitFor gives the probe's value, null at its timeout, null at once when aborted", async () => {
    let n = 0;
    expect(await waitFor(async () => (++n >= 3 ? n : null), 5_000, 5)).toBe(3);
    expect(await waitFor(async () => null, 50, 5)).toBeNull();
    const stop = new AbortController();
    stop.abort();
    let probes = 0;
    expect(await waitFor(async () => (++probes > 0 ? null : null), 10_000, 5, stop.signal)).toBeNull();
    expect(probes).toBe(0);
  });
});
