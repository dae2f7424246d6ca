import { describe, expect, it } from "vitest";
import { QueryStripper, stripQueriesFromBytes } from "./terminal-queries";

const bytes = (s: string) => Buffer.from(s, "latin1");

describe("QueryStripper", () => {
  it("removes ESC[6n and device-attribute queries and keeps everything else", () => {
    expect(stripQueriesFromBytes(bytes("a\x1b[6nb\x1b[cc\x1b[1;31mred")).toString("latin1")).toBe(
      "ab" + "c\x1b[1;31mred",
    );
  });
  it("handles a query split across chunks", () => {
    const s = new QueryStripper();
    const out = [s.push(bytes("prompt# \x1b[")), s.push(bytes("6nmore")), s.flush()].map((b) =>
      b.toString("latin1"),
    );
    expect(out.join("")).toBe("prompt# more");
    expect(out[0]).toBe("prompt# ");
  });
  it("passes non-UTF-8 bytes through unchanged", () => {
    const s = new QueryStripper();
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3, 0xa9]);
    expect(Buffer.compare(Buffer.concat([s.push(raw), s.flush()]), raw)).toBe(0);
  });
});
