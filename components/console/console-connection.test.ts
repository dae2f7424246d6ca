import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { CONSOLE_LIMITS } from "../../server/protocol/console";
import { startConsoleTestServer } from "../../server/web/console/testing/console-test-server";
import {
  type FakeAgentConsole,
  startFakeAgentConsole,
} from "../../server/web/console/testing/fake-agent-console";
import {
  type BrowserSocket,
  type ConnectionStatus,
  ConsoleConnection,
  MAX_BUFFERED_INPUT_BYTES,
  type TerminalSink,
  type Viewer,
} from "./console-connection";
import { TicketRefusedError } from "./ticket-refused-error";

/** Records what a terminal would show since its last reset; parses at `bytesPerMs` like xterm. */
function recordingSink(bytesPerMs = Number.POSITIVE_INFINITY) {
  const decoder = new TextDecoder();
  let busyUntil = 0;
  const sink = {
    screen: "",
    resets: 0,
    written: 0,
    reset() {
      sink.screen = "";
      sink.resets++;
    },
    write(bytes: Uint8Array, done: () => void) {
      sink.screen += decoder.decode(bytes, { stream: true });
      sink.written += bytes.length;
      if (bytesPerMs === Number.POSITIVE_INFINITY) return setImmediate(done);
      busyUntil = Math.max(busyUntil, performance.now()) + bytes.length / bytesPerMs;
      setTimeout(done, Math.max(0, busyUntil - performance.now()));
    },
    size: () => ({ cols: 100, rows: 30 }),
  } satisfies TerminalSink & Record<string, unknown>;
  return sink;
}

async function until(check: () => boolean, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let agent: FakeAgentConsole;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  agent = await startFakeAgentConsole({ replay: "Give root password for maintenance\r\n" });
});
afterAll(() => agent.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { sink?: ReturnType<typeof recordingSink>; user?: string } = {}) {
  const web = await startConsoleTestServer({ agentUrl: agent.url });
  cleanups.push(() => web.stop());
  const sink = options.sink ?? recordingSink();
  const statuses: ConnectionStatus[] = [];
  const viewers: Viewer[][] = [];
  let ticketCalls = 0;
  let refuse = false;
  let webNow = web;
  const connection = new ConsoleConnection({
    getTicket: async () => {
      ticketCalls++;
      if (refuse) throw new TicketRefusedError("You may not open this console.");
      return webNow.ticketFor(options.user ?? "alice", "alice");
    },
    sink,
    createSocket: (url, protocols) =>
      new WebSocket(url, protocols, { origin: webNow.origin }) as unknown as BrowserSocket,
    backoff: { initialMs: 50, maxMs: 200, random: () => 0 },
    onStatus: (s) => statuses.push(s),
    onViewers: (v) => viewers.push(v),
  });
  cleanups.push(() => connection.stop());
  return {
    connection,
    sink,
    statuses,
    viewers,
    get web() {
      return webNow;
    },
    set web(next) {
      webNow = next;
    },
    ticketCalls: () => ticketCalls,
    refuseTickets: () => {
      refuse = true;
    },
  };
}

describe("ConsoleConnection against the real upgrade glue and a fake agent", () => {
  it("resets, replays, goes live, and sends its size and input", async () => {
    const nextAgent = agent.nextConnection();
    const t = await setup();
    t.connection.start();
    const conn = await nextAgent;
    await until(() => t.connection.state === "live");
    expect(t.statuses.map((s) => s.state)).toEqual(["connecting", "replaying", "live"]);
    expect(t.sink.resets).toBe(1);
    expect(t.sink.screen).toBe("Give root password for maintenance\r\n");
    conn.push("# ");
    t.connection.sendInput("vi /etc/fstab\r");
    await until(() => conn.received.length >= 2);
    expect(conn.received[0]).toEqual({ kind: "resize", cols: 100, rows: 30 });
    expect(conn.received[1]).toEqual({ kind: "data", bytes: new TextEncoder().encode("vi /etc/fstab\r") });
    await until(() => t.sink.screen.endsWith("# "));
    await until(() => t.viewers.at(-1)?.length === 1);
  });

  it("splits a large paste into frames the server accepts", async () => {
    const nextAgent = agent.nextConnection();
    const t = await setup();
    t.connection.start();
    const conn = await nextAgent;
    await until(() => t.connection.state === "live");
    t.connection.sendInput("x".repeat(40_000));
    await until(() => conn.received.filter((f) => f.kind === "data").length === 3);
    expect(conn.received.flatMap((f) => (f.kind === "data" ? [f.bytes.length] : []))).toEqual([
      16384, 16384, 7232,
    ]);
    expect(t.connection.state).toBe("live");
  });

  it("reconnects by itself after a web-tier restart, with a fresh ticket and no duplicated screen", async () => {
    const t = await setup();
    t.connection.start();
    await until(() => t.connection.state === "live");
    const { port } = t.web;
    await t.web.stop();
    await until(() => t.connection.state === "reconnecting" || t.connection.state === "connecting");
    // The web tier comes back on the same port a moment later.
    await new Promise((resolve) => setTimeout(resolve, 120));
    const nextAgent = agent.nextConnection();
    t.web = await startConsoleTestServer({ agentUrl: agent.url, port });
    cleanups.push(() => t.web.stop());
    await nextAgent;
    await until(() => t.connection.state === "live", 5000);
    expect(t.ticketCalls()).toBeGreaterThanOrEqual(2);
    expect(t.sink.resets).toBe(2);
    expect(t.sink.screen).toBe("Give root password for maintenance\r\n");
  });

  it("stops for good when access is revoked or the ticket is refused", async () => {
    const t = await setup();
    t.connection.start();
    await until(() => t.connection.state === "live");
    const calls = t.ticketCalls();
    t.web.hub.closeUser("alice");
    await until(() => t.connection.state === "closed");
    expect(t.statuses.at(-1)?.reason).toBe("Access to this console was revoked.");
    expect(t.statuses.at(-1)?.canReconnect).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(t.ticketCalls()).toBe(calls);
    // Nothing to offer: a reconnect asks for no ticket.
    t.connection.reconnectNow();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(t.ticketCalls()).toBe(calls);

    const refused = await setup();
    refused.refuseTickets();
    refused.connection.start();
    await until(
      () => refused.statuses.at(-1)?.state === "closed" && refused.statuses.at(-1)?.reason !== undefined,
    );
    expect(refused.statuses.at(-1)?.reason).toBe("You may not open this console.");
    expect(refused.statuses.at(-1)?.canReconnect).toBe(false);
  });

  it("keeps the agent within its window for a slow terminal, and Ctrl-C gets through the flood", async () => {
    const nextAgent = agent.nextConnection();
    // 5 MB/s, like a browser busy rendering (notes/bench.md B3).
    const t = await setup({ sink: recordingSink(5_000) });
    t.connection.start();
    const conn = await nextAgent;
    await until(() => t.connection.state === "live");
    let peakInFlight = 0;
    const sample = setInterval(() => {
      peakInFlight = Math.max(peakInFlight, conn.inFlight);
    }, 1);
    cleanups.push(() => clearInterval(sample));
    agent.flood(conn, 3 * 1024 * 1024);
    await until(() => t.sink.written > 1024 * 1024, 5000);
    const sentAt = performance.now();
    t.connection.sendInput("\x03");
    await until(() => conn.received.some((f) => f.kind === "data" && f.bytes[0] === 3));
    const ctrlC = performance.now() - sentAt;
    agent.stopFlood(conn);
    clearInterval(sample);
    conn.push("\r\n# "); // the prompt, sent like the agent sends live output (not held by the window)
    const shownAt = performance.now();
    await until(() => t.sink.screen.endsWith("# "), 5000);
    const prompt = performance.now() - shownAt;
    expect(ctrlC).toBeLessThan(100);
    // At most one window queued ahead of the prompt: 256 KiB at 5 MB/s ≈ 52 ms.
    expect(prompt).toBeLessThan(200);
    expect(peakInFlight).toBeLessThanOrEqual(CONSOLE_LIMITS.flowHighWaterBytes);
  });

  it("check 42: a keyboard flood is bounded in the page too: beyond a small socket queue input is dropped with a notice, Ctrl-C still goes", async () => {
    const web = await startConsoleTestServer({ agentUrl: agent.url });
    cleanups.push(() => web.stop());
    const notices: string[] = [];
    let socket: WebSocket | undefined;
    const connection = new ConsoleConnection({
      getTicket: async () => web.ticketFor("alice", "alice"),
      sink: recordingSink(),
      createSocket: (url, protocols) => {
        socket = new WebSocket(url, protocols, { origin: web.origin });
        return socket as unknown as BrowserSocket;
      },
      backoff: { initialMs: 50, maxMs: 200, random: () => 0 },
      onNotice: (text) => notices.push(text),
    });
    cleanups.push(() => connection.stop());
    connection.start();
    await until(() => connection.state === "live");
    const frame = new Uint8Array(CONSOLE_LIMITS.maxInputBytes).fill(0x61);
    let peak = 0;
    for (let i = 0; i < 640; i++) {
      // 10 MiB in one tick: nothing drains meanwhile
      connection.sendInput(frame);
      peak = Math.max(peak, socket?.bufferedAmount ?? 0);
    }
    expect(peak).toBeLessThanOrEqual(MAX_BUFFERED_INPUT_BYTES + CONSOLE_LIMITS.maxInputBytes);
    expect(notices.some((n) => /^Input dropped/.test(n))).toBe(true);
    const before = socket?.bufferedAmount ?? 0;
    connection.sendInput("\x03");
    expect(socket?.bufferedAmount ?? 0).toBeGreaterThan(before);
  });
});
