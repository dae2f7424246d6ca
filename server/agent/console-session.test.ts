import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConsoleFrame } from "../protocol/console";
import { ConsoleSession, type LogSource } from "./console-session";
import { bootLogName } from "./vm-paths";

let dir: string;
let boots: number[];
const frames: ConsoleFrame[] = [];

function source(): LogSource {
  return {
    current: async () => {
      const n = boots.at(-1);
      return n === undefined ? null : { n, file: join(dir, bootLogName(n)) };
    },
    screen: async () => Buffer.from("SCREEN"),
  };
}
const sink = { send: (f: ConsoleFrame) => frames.push(f), buffered: () => 0 };
const dataText = (from = 0) =>
  frames
    .slice(from)
    .filter((f) => f.kind === "data")
    .map((f) => Buffer.from((f as { bytes: Uint8Array }).bytes).toString("latin1"))
    .join("");
const dataBytes = () => frames.reduce((n, f) => n + (f.kind === "data" ? f.bytes.length : 0), 0);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "zaphod-session-"));
  boots = [1];
  frames.length = 0;
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe("ConsoleSession", () => {
  it("replays the boot log without terminal queries, then replay-end, then follows live", async () => {
    await writeFile(join(dir, bootLogName(1)), "boot text\r\nlogin: \x1b[6n");
    const s = new ConsoleSession(source(), sink);
    await s.start();
    expect(dataText()).toBe("boot text\r\nlogin: ");
    const end = frames.findIndex((f) => f.kind === "control" && f.message.type === "replay-end");
    expect(end).toBeGreaterThan(0);
    await appendFile(join(dir, bootLogName(1)), "root\r\n");
    await s.pump();
    expect(dataText(end)).toBe("root\r\n");
    await s.close();
  });

  it("bounds the replay to the tail", async () => {
    await writeFile(join(dir, bootLogName(1)), `${"x".repeat(1000)}TAIL`);
    const s = new ConsoleSession(source(), sink, { replayBytes: 10, skipBytes: 1 << 20, highWater: 1 << 20 });
    await s.start();
    expect(dataText()).toBe("xxxxxxTAIL");
    await s.close();
  });

  it("check 19: never has more than the high-water mark unacknowledged, and resumes on ACK", async () => {
    await writeFile(join(dir, bootLogName(1)), "");
    const s = new ConsoleSession(source(), sink, { replayBytes: 0, skipBytes: 1 << 20, highWater: 1000 });
    await s.start();
    await appendFile(join(dir, bootLogName(1)), "y\n".repeat(2000));
    await s.pump();
    const first = dataBytes();
    expect(first).toBeLessThanOrEqual(1000);
    expect(first).toBeGreaterThan(900);
    expect(s.inFlight).toBe(first);
    s.ack(5000); // more than in flight: clamped, the window never widens
    expect(s.inFlight).toBe(0);
    await s.pump();
    expect(dataBytes() - first).toBeLessThanOrEqual(1000);
    expect(s.inFlight).toBeLessThanOrEqual(1000);
    s.ack(s.inFlight);
    await s.pump();
    expect(dataBytes()).toBeGreaterThan(2 * first);
    await s.close();
  });

  it("skips ahead with a fresh screen when the client falls too far behind", async () => {
    await writeFile(join(dir, bootLogName(1)), "");
    const s = new ConsoleSession(source(), sink, { replayBytes: 0, skipBytes: 5000, highWater: 1000 });
    await s.start();
    await appendFile(join(dir, bootLogName(1)), "y\n".repeat(10_000));
    await s.pump();
    s.ack(s.inFlight);
    await s.pump();
    const skipped = frames.find((f) => f.kind === "control" && f.message.type === "skipped");
    expect(skipped).toBeDefined();
    expect(dataText()).toContain("SCREEN");
    await appendFile(join(dir, bootLogName(1)), "prompt# ");
    s.ack("SCREEN".length);
    await s.pump();
    expect(dataText().endsWith("prompt# ")).toBe(true);
    await s.close();
  });

  it("moves on to the next boot's log after finishing the current one", async () => {
    await writeFile(join(dir, bootLogName(1)), "first boot\r\n");
    const s = new ConsoleSession(source(), sink);
    await s.start();
    await appendFile(join(dir, bootLogName(1)), "going down\r\n");
    await writeFile(join(dir, bootLogName(2)), "second boot\r\n");
    boots.push(2);
    await s.pump();
    expect(dataText()).toBe("first boot\r\ngoing down\r\nsecond boot\r\n");
    await s.close();
  });
});
