import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AgentRequest } from "../protocol/agent";
import { parseDiskReserve } from "./config";
import { needsSample, reserveBytesOf, resumeMarginOf, SPACE_CHECK_MS, spaceDecision } from "./disk-space";

const MiB = 1024 ** 2;

describe("the free-space reserve", () => {
  it("is a share of the filesystem or a fixed size", () => {
    expect(parseDiskReserve("5%")).toEqual({ percent: 5 });
    expect(parseDiskReserve("10G")).toEqual({ bytes: 10 * 1024 ** 3 });
    expect(parseDiskReserve("512M")).toEqual({ bytes: 512 * MiB });
    expect(() => parseDiskReserve("60%")).toThrow(/at most 50%/);
    expect(reserveBytesOf({ percent: 5 }, 1000 * MiB)).toBe(50 * MiB);
    expect(reserveBytesOf({ bytes: 96 * MiB }, 1000 * MiB)).toBe(96 * MiB);
  });

  it("below the reserve pauses the VMs that wrote, biggest writer first, never one already paused", () => {
    const d = spaceDecision({
      freeBytes: 90 * MiB,
      reserveBytes: 100 * MiB,
      growth: [
        { vm: "small", grewBytes: 1 * MiB },
        { vm: "idle", grewBytes: 0 },
        { vm: "big", grewBytes: 40 * MiB },
        { vm: "held", grewBytes: 5 * MiB },
      ],
      paused: ["held"],
    });
    expect(d).toEqual({
      pause: [
        { vm: "big", grewBytes: 40 * MiB },
        { vm: "small", grewBytes: 1 * MiB },
      ],
      resume: [],
    });
  });

  it("resumes only above the reserve plus a margin (no flapping at the line)", () => {
    const reserve = 100 * MiB;
    const margin = resumeMarginOf(reserve);
    expect(margin).toBe(25 * MiB);
    expect(resumeMarginOf(8 * MiB)).toBe(16 * MiB);
    const at = (freeBytes: number) =>
      spaceDecision({
        freeBytes,
        reserveBytes: reserve,
        growth: [{ vm: "w", grewBytes: MiB }],
        paused: ["p"],
      });
    expect(at(reserve + margin - 1)).toEqual({ pause: [], resume: [] });
    expect(at(reserve + margin)).toEqual({ pause: [], resume: ["p"] });
    expect(at(reserve - 1).resume).toEqual([]);
  });
});

describe("the check's pace", () => {
  it("samples the VMs' disks at every 50 ms read near the reserve or while one is paused, else every 2 s", () => {
    const at = { reserveBytes: 100 * MiB, pausedCount: 0, sinceSampleMs: 50 };
    expect(SPACE_CHECK_MS.statfs).toBe(50);
    expect(needsSample({ ...at, freeBytes: 399 * MiB })).toBe(true);
    expect(needsSample({ ...at, freeBytes: 400 * MiB })).toBe(false);
    expect(needsSample({ ...at, freeBytes: 400 * MiB, pausedCount: 1 })).toBe(true);
    expect(needsSample({ ...at, freeBytes: 400 * MiB, sinceSampleMs: 2000 })).toBe(true);
  });
});

describe("the reserve on the wire", () => {
  const req = (args: unknown, extra: Record<string, unknown> = {}) =>
    AgentRequest.safeParse({ v: 1, id: randomUUID(), op: "host.setDiskReserve", args, ...extra }).success;
  it("is a share up to 50% or a size, exactly one, and carries no actor (not a VM verb)", () => {
    expect(req({ reserve: { percent: 5 } })).toBe(true);
    expect(req({ reserve: { bytes: 10 * 1024 ** 3 } })).toBe(true);
    expect(req({ reserve: { percent: 60 } })).toBe(false);
    expect(req({ reserve: { percent: 5, bytes: 1 } })).toBe(false);
    expect(req({ reserve: { bytes: -1 } })).toBe(false);
    expect(
      req({ reserve: { percent: 5 } }, { actor: { userId: "u1", username: "ada", basis: "admin" } }),
    ).toBe(false);
  });
});
