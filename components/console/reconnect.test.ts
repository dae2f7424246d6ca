import { describe, expect, it } from "vitest";
import { ConsoleCloseCode } from "../../server/protocol/console";
import { ReconnectMachine } from "./reconnect";

const noJitter = { random: () => 0 };

describe("ReconnectMachine", () => {
  it("goes connecting → replaying → live", () => {
    const m = new ReconnectMachine(noJitter);
    expect(m.state).toBe("idle");
    expect(m.start()).toEqual({ type: "connect" });
    expect(m.state).toBe("connecting");
    expect(m.start()).toEqual({ type: "none" });
    m.opened();
    expect(m.state).toBe("replaying");
    m.replayEnded();
    expect(m.state).toBe("live");
  });

  it("backs off exponentially up to the cap, and resets once live again", () => {
    const m = new ReconnectMachine({ initialMs: 500, maxMs: 4000, ...noJitter });
    m.start();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const step = m.dropped(1006);
      expect(step.type).toBe("wait");
      if (step.type === "wait") waits.push(step.ms);
      expect(m.state).toBe("reconnecting");
      expect(m.timerFired()).toEqual({ type: "connect" });
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    m.opened();
    m.replayEnded();
    expect(m.attempt).toBe(0);
    expect(m.dropped(1006)).toEqual({ type: "wait", ms: 500 });
  });

  it("jitters delays down, never up", () => {
    const low = new ReconnectMachine({ initialMs: 1000, jitter: 0.2, random: () => 0.999999 });
    const high = new ReconnectMachine({ initialMs: 1000, jitter: 0.2, random: () => 0 });
    expect(low.delay(0)).toBe(800);
    expect(high.delay(0)).toBe(1000);
  });

  it("retries after a web-tier restart (1001), an agent failure (1011) and a drop (1006)", () => {
    for (const code of [ConsoleCloseCode.goingAway, ConsoleCloseCode.unavailable, 1006, 1000]) {
      const m = new ReconnectMachine(noJitter);
      m.start();
      m.opened();
      m.replayEnded();
      expect(m.dropped(code).type).toBe("wait");
    }
  });

  it("stops on revocation, idle and protocol errors, and keeps the server's reason", () => {
    for (const code of [4001, 4002, 1003, 1008, 1009]) {
      const m = new ReconnectMachine(noJitter);
      m.start();
      m.opened();
      expect(m.dropped(code, "Access to this console was revoked.")).toEqual({ type: "none" });
      expect(m.state).toBe("closed");
      expect(m.reason).toBe("Access to this console was revoked.");
      expect(m.timerFired()).toEqual({ type: "none" });
    }
  });

  it("stops when the ticket is refused, retries when the server is unreachable", () => {
    const refused = new ReconnectMachine(noJitter);
    refused.start();
    expect(refused.ticketFailed(true, "Forbidden")).toEqual({ type: "none" });
    expect(refused.state).toBe("closed");

    const offline = new ReconnectMachine(noJitter);
    offline.start();
    expect(offline.ticketFailed(false)).toEqual({ type: "wait", ms: 500 });
    expect(offline.state).toBe("reconnecting");
  });

  it("reconnects on request from closed or while waiting, and ignores events after stop", () => {
    const m = new ReconnectMachine(noJitter);
    m.start();
    m.dropped(4002);
    expect(m.retryNow()).toEqual({ type: "connect" });
    expect(m.state).toBe("connecting");
    m.dropped(1006);
    expect(m.retryNow()).toEqual({ type: "connect" });
    m.stop();
    expect(m.dropped(1006)).toEqual({ type: "none" });
    expect(m.timerFired()).toEqual({ type: "none" });
    expect(m.state).toBe("closed");
  });

  it("offers no reconnect after a revocation or a refused ticket; an idle close may reconnect", () => {
    const revoked = new ReconnectMachine(noJitter);
    revoked.start();
    revoked.opened();
    revoked.dropped(ConsoleCloseCode.revoked, "Access to this console was revoked.");
    expect(revoked.canReconnect).toBe(false);
    expect(revoked.retryNow()).toEqual({ type: "none" });
    expect(revoked.restart()).toEqual({ type: "none" });
    expect(revoked.state).toBe("closed");

    const refused = new ReconnectMachine(noJitter);
    refused.start();
    refused.ticketFailed(true, "Your account is suspended.");
    expect(refused.canReconnect).toBe(false);

    const idle = new ReconnectMachine(noJitter);
    idle.start();
    idle.opened();
    idle.dropped(ConsoleCloseCode.idle);
    expect(idle.canReconnect).toBe(true);
  });

  it("restarts from live on request (a new boot of the VM), with a fresh attempt count", () => {
    const m = new ReconnectMachine(noJitter);
    expect(m.restart()).toEqual({ type: "none" }); // not started yet
    m.start();
    m.opened();
    m.replayEnded();
    expect(m.restart()).toEqual({ type: "connect" });
    expect(m.state).toBe("connecting");
    expect(m.attempt).toBe(0);
  });

  it("ignores a second close for the same drop", () => {
    const m = new ReconnectMachine(noJitter);
    m.start();
    expect(m.dropped(1006).type).toBe("wait");
    expect(m.dropped(1006)).toEqual({ type: "none" });
    expect(m.attempt).toBe(1);
  });
});
