import { describe, expect, it } from "vitest";
import { coalesce } from "./coalesce";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("coalesce", () => {
  it("shares runs among concurrent callers, each getting a run that started after it called", async () => {
    const starts: number[] = [];
    let n = 0;
    const scan = coalesce(async () => {
      starts.push(performance.now());
      const mine = ++n;
      await sleep(30);
      return mine;
    });
    const asked: number[] = [];
    const ask = () => {
      asked.push(performance.now());
      return scan();
    };
    const first = ask();
    await sleep(5);
    const later = await Promise.all([ask(), ask(), ask()]);
    expect(await first).toBe(1);
    // The three who asked while run 1 was in flight share run 2, which started after they asked.
    expect(later).toEqual([2, 2, 2]);
    expect(n).toBe(2);
    expect(starts[1]).toBeGreaterThanOrEqual(Math.max(...asked.slice(1)));
    // Idle again: the next caller starts its own run at once.
    expect(await ask()).toBe(3);
  });

  it("a failed run fails its callers only; the waiting run still runs", async () => {
    let n = 0;
    const scan = coalesce(async () => {
      n++;
      await sleep(10);
      if (n === 1) throw new Error("boom");
      return n;
    });
    const failed = scan();
    const waiting = scan();
    await expect(failed).rejects.toThrow("boom");
    expect(await waiting).toBe(2);
  });
});
