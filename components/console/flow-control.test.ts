import { describe, expect, it } from "vitest";
import { CONSOLE_LIMITS } from "../../server/protocol/console";
import { AckCounter } from "./flow-control";

describe("AckCounter", () => {
  it("acknowledges processed bytes in deltas of at least ackEveryBytes", () => {
    const flow = new AckCounter(1000);
    const acks: number[] = [];
    for (let i = 0; i < 25; i++) {
      flow.received(100);
      const ack = flow.processed(100);
      if (ack) acks.push(ack);
    }
    expect(acks).toEqual([1000, 1000]);
    expect(flow.backlog).toBe(0);
  });

  it("counts only what the terminal parsed, not what arrived", () => {
    const flow = new AckCounter(1000);
    for (let i = 0; i < 10; i++) flow.received(500);
    expect(flow.backlog).toBe(5000);
    expect(flow.processed(600)).toBe(0);
    expect(flow.processed(600)).toBe(1200);
    expect(flow.backlog).toBe(3800);
  });

  it("keeps the server's window open: unacknowledged processed bytes stay below ackEveryBytes", () => {
    const flow = new AckCounter();
    let acked = 0;
    let processed = 0;
    for (const size of [1, 4096, 65535, 17, 32768, 100_000, 3]) {
      flow.received(size);
      acked += flow.processed(size);
      processed += size;
      expect(processed - acked).toBeLessThan(CONSOLE_LIMITS.ackEveryBytes);
    }
  });

  it("refuses a step that would stall the server's window", () => {
    expect(() => new AckCounter(0)).toThrow(RangeError);
    expect(() => new AckCounter(CONSOLE_LIMITS.flowHighWaterBytes + 1)).toThrow(RangeError);
  });
});
