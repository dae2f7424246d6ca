import { describe, expect, it } from "vitest";
import {
  CONSOLE_LIMITS,
  type ConsoleControl,
  type ConsoleFrame,
  ConsoleFrameError,
  decodeConsoleFrame,
  encodeConsoleFrame,
  stripTerminalQueries,
} from "./console";

const roundTrip = (frame: ConsoleFrame) => decodeConsoleFrame(encodeConsoleFrame(frame));
const raw = (...bytes: number[]) => Uint8Array.from(bytes);
const control = (json: string) => Uint8Array.from([0x03, ...new TextEncoder().encode(json)]);

describe("console frame codec", () => {
  it("round-trips every frame kind", () => {
    const bytes = Uint8Array.from([0, 1, 0x1b, 0x03, 0xff, 0x0a]);
    expect(roundTrip({ kind: "data", bytes })).toEqual({ kind: "data", bytes });
    expect(roundTrip({ kind: "data", bytes: new Uint8Array() })).toEqual({
      kind: "data",
      bytes: new Uint8Array(),
    });
    expect(roundTrip({ kind: "resize", cols: 500, rows: 200 })).toEqual({
      kind: "resize",
      cols: 500,
      rows: 200,
    });
    expect(roundTrip({ kind: "resize", cols: 1, rows: 1 })).toEqual({ kind: "resize", cols: 1, rows: 1 });
    expect(roundTrip({ kind: "ack", bytes: 0xffffffff })).toEqual({ kind: "ack", bytes: 0xffffffff });
    for (const message of [
      { type: "hello", vm: "alice", bootId: "b1" },
      { type: "replay-end" },
      { type: "viewers", viewers: [{ user: "alice", role: "member", since: "2026-01-01T00:00:00Z" }] },
      { type: "skipped", bytes: 123 },
      { type: "notice", text: "hi" },
      { type: "closing", reason: "bye" },
      { type: "ctrl-alt-del" },
      { type: "ping", t: 1.5 },
      { type: "pong", t: 2 },
    ] satisfies ConsoleControl[]) {
      expect(roundTrip({ kind: "control", message })).toEqual({ kind: "control", message });
    }
  });

  it("decodes frames that are views into a larger buffer", () => {
    const backing = new Uint8Array(16);
    backing.set([0x01, 0, 80, 0, 24], 7);
    expect(decodeConsoleFrame(backing.subarray(7, 12))).toEqual({ kind: "resize", cols: 80, rows: 24 });
  });

  const refusals: [string, Uint8Array, RegExp][] = [
    ["empty", raw(), /empty/],
    ["oversized", new Uint8Array(CONSOLE_LIMITS.maxFrameBytes + 1), /too large/],
    ["resize 0 cols", raw(0x01, 0, 0, 0, 24), /out of range/],
    ["resize 0 rows", raw(0x01, 0, 80, 0, 0), /out of range/],
    [
      "resize 100000 cols (wraps to 34464)",
      encodeConsoleFrame({ kind: "resize", cols: 100000, rows: 24 }),
      /range/,
    ],
    ["resize 501 cols", raw(0x01, 0x01, 0xf5, 0, 24), /out of range/],
    ["resize 201 rows", raw(0x01, 0, 80, 0, 201), /out of range/],
    ["resize 65535 (a negative int16)", raw(0x01, 0xff, 0xff, 0xff, 0xff), /out of range/],
    ["short resize", raw(0x01, 0, 80, 0), /5 bytes/],
    ["long resize", raw(0x01, 0, 80, 0, 24, 0), /5 bytes/],
    ["short ack", raw(0x02, 0, 0, 1), /5 bytes/],
    ["bad JSON", control("{nope"), /JSON/],
    ["invalid UTF-8", raw(0x03, 0xc3, 0x28), /JSON/],
    ["unknown control", control('{"type":"rm-rf"}'), /unknown control/],
    ["control with wrong field type", control('{"type":"ping","t":"now"}'), /unknown control/],
    [
      "notice too long",
      control(JSON.stringify({ type: "notice", text: "x".repeat(501) })),
      /unknown control/,
    ],
    ["control over 4 KiB", control(JSON.stringify({ type: "notice", text: "x".repeat(5000) })), /too large/],
    ["unknown kind", raw(0x04, 1, 2), /unknown frame kind 4/],
    ["kind 0xff", raw(0xff), /unknown frame kind 255/],
  ];
  it.each(refusals)("check 17: refuses %s", (_name, frame, message) => {
    expect(() => decodeConsoleFrame(frame)).toThrow(ConsoleFrameError);
    expect(() => decodeConsoleFrame(frame)).toThrow(message);
  });

  it("strips terminal queries from replayed text but keeps ordinary escapes", () => {
    const text = "fsck\x1b[6n ok\x1b[c\x1b[>0c\x1b]11;?\x07\x1b[1;31mred\x1b[0m";
    expect(stripTerminalQueries(text)).toBe("fsck ok\x1b[1;31mred\x1b[0m");
  });

  it("bounds queued keyboard input: one full frame fits, the window to tmux is smaller than the queue", () => {
    expect(CONSOLE_LIMITS.maxQueuedInputBytes).toBeGreaterThanOrEqual(CONSOLE_LIMITS.maxInputBytes);
    expect(CONSOLE_LIMITS.maxInputInFlightBytes).toBeLessThan(CONSOLE_LIMITS.maxQueuedInputBytes);
    expect(CONSOLE_LIMITS.maxQueuedInputBytes).toBeLessThanOrEqual(CONSOLE_LIMITS.flowHighWaterBytes);
  });
});
