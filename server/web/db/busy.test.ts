import { describe, expect, it } from "vitest";
import { isDbBusy, isDbFull, retryWhileBusy } from "./busy";

const busy = () =>
  Object.assign(new Error("Operation has timed out"), {
    code: "P1008",
    meta: { driverAdapterError: { name: "DriverAdapterError", cause: { kind: "SocketTimeout" } } },
  });

describe("database busy", () => {
  it("recognizes SQLITE_BUSY however it is wrapped, and nothing else", () => {
    expect(isDbBusy(busy())).toBe(true);
    expect(isDbBusy(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }))).toBe(true);
    expect(isDbBusy(new Error("x", { cause: { kind: "SocketTimeout" } }))).toBe(true);
    // Auth.js: a CallbackRouteError around the authorize callback's error.
    expect(isDbBusy(new Error("callback", { cause: { err: busy(), provider: "credentials" } }))).toBe(true);
    expect(isDbBusy(new Error("Unique constraint failed"))).toBe(false);
    expect(isDbBusy(null)).toBe(false);
    expect(isDbBusy("SQLITE_BUSY")).toBe(false);
  });

  it("check 38: recognizes a full disk (SQLITE_FULL, WAL's SQLITE_IOERR_SHMSIZE) however wrapped, and nothing else", () => {
    const prisma = (code: string) =>
      Object.assign(new Error(`Database error. Code: \`${code}\`. Message: \`x\``), { code: "P2039" });
    expect(isDbFull(prisma("SQLITE_IOERR_SHMSIZE"))).toBe(true);
    expect(isDbFull(prisma("SQLITE_FULL"))).toBe(true);
    expect(isDbFull(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" }))).toBe(
      true,
    );
    expect(isDbFull(new Error("callback", { cause: { err: prisma("SQLITE_FULL") } }))).toBe(true);
    expect(isDbFull(busy())).toBe(false);
    expect(isDbFull(prisma("SQLITE_CORRUPT"))).toBe(false);
    expect(isDbBusy(prisma("SQLITE_FULL"))).toBe(false);
  });

  it("retries while busy within the budget, then gives up with the busy error", async () => {
    let calls = 0;
    const pauses: number[] = [];
    const sleep = async (ms: number) => void pauses.push(ms);
    expect(
      await retryWhileBusy(
        async () => {
          calls++;
          if (calls < 3) throw busy();
          return "done";
        },
        2_000,
        sleep,
      ),
    ).toBe("done");
    expect(calls).toBe(3);
    expect(pauses).toEqual([20, 40]);
    await expect(retryWhileBusy(async () => Promise.reject(busy()), 0, sleep)).rejects.toMatchObject({
      code: "P1008",
    });
    // Other errors are not retried.
    calls = 0;
    await expect(
      retryWhileBusy(async () => {
        calls++;
        throw new Error("nope");
      }),
    ).rejects.toThrow("nope");
    expect(calls).toBe(1);
  });
});
