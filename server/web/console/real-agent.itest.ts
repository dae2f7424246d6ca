/**
 * The web tier's console path in front of the real agent and a real UML VM (busybox image):
 * history then live, typing through the browser protocol, reconnect after a web-tier restart with
 * the shell's state intact (tmux holds it) and the screen not duplicated, and Ctrl-C under a
 * `yes` flood for a client that parses at 5 MB/s. The browser end is ConsoleConnection, the same
 * class the page uses, with a recording terminal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  type BrowserSocket,
  ConsoleConnection,
  type TerminalSink,
} from "../../../components/console/console-connection";
import { createHarness, type Harness } from "../../agent/testing/agent-harness";
import { CONSOLE_LIMITS } from "../../protocol/console";
import { startConsoleTestServer } from "./testing/console-test-server";

const VM = "con-one";
let h: Harness;
let web: Awaited<ReturnType<typeof startConsoleTestServer>>;
const stopWeb: (() => Promise<void>)[] = [];

function recordingSink(bytesPerSecond = Number.POSITIVE_INFINITY) {
  const decoder = new TextDecoder();
  let busyUntil = 0;
  const sink = {
    screen: "",
    resets: 0,
    reset() {
      sink.screen = "";
      sink.resets++;
    },
    write(bytes: Uint8Array, done: () => void) {
      sink.screen += decoder.decode(bytes, { stream: true });
      if (bytesPerSecond === Number.POSITIVE_INFINITY) return void setImmediate(done);
      busyUntil = Math.max(busyUntil, performance.now()) + (bytes.length / bytesPerSecond) * 1000;
      setTimeout(done, Math.max(0, busyUntil - performance.now()));
    },
    size: () => ({ cols: 100, rows: 30 }),
  } satisfies TerminalSink & Record<string, unknown>;
  return sink;
}

async function until(check: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function connect(sink: ReturnType<typeof recordingSink>) {
  const connection = new ConsoleConnection({
    getTicket: () => web.ticketFor(VM, VM),
    sink,
    createSocket: (url, protocols) =>
      new WebSocket(url, protocols, { origin: web.origin }) as unknown as BrowserSocket,
    backoff: { initialMs: 100, maxMs: 500 },
  });
  connection.start();
  return connection;
}

beforeAll(async () => {
  h = await createHarness();
  await h.startAgent();
  await h.client.run("vm.create", {
    name: VM,
    owner: "carol",
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
  await h.client.run("vm.start", { name: VM });
  web = await startConsoleTestServer({ openAgentConsole: (vm) => h.client.openConsole(vm) });
  stopWeb.push(() => web.stop());
}, 240_000);

afterAll(async () => {
  for (const stop of stopWeb) await stop().catch(() => {});
  await h?.cleanup();
}, 120_000);

describe("console through the web tier to the real agent", () => {
  it("check 36: replays the boot, goes live, logs in, and keeps the shell across a web-tier restart", async () => {
    const sink = recordingSink();
    const connection = connect(sink);
    try {
      await until(() => connection.state === "live", 30_000, "live");
      await until(() => /login:/.test(sink.screen), 30_000, "login prompt in the replay");
      expect(sink.screen.includes("\x1b[6n")).toBe(false);
      connection.sendInput("root\r");
      await until(() => /# $/m.test(sink.screen), 30_000, "root prompt");
      connection.sendInput("cd /tmp; X=kept-$((40+2)); echo marker-$((1+1))\r");
      await until(() => sink.screen.includes("marker-2"), 20_000, "marker");

      const { port } = web;
      await web.stop();
      await until(() => connection.state !== "live", 10_000, "drop");
      web = await startConsoleTestServer({ port, openAgentConsole: (vm) => h.client.openConsole(vm) });
      stopWeb.push(() => web.stop());
      await until(() => connection.state === "live", 30_000, "live again");
      expect(sink.resets).toBe(2);
      // The replay shows the earlier output once: the terminal was reset before it.
      expect(sink.screen.split("marker-2").length - 1).toBe(1);
      connection.sendInput("echo $X $(pwd)\r");
      await until(() => sink.screen.includes("kept-42 /tmp"), 20_000, "shell state after restart");
    } finally {
      connection.stop();
    }
  }, 120_000);

  it("gets Ctrl-C through a `yes` flood to a client parsing at 5 MB/s", async () => {
    const sink = recordingSink(5_000_000);
    const connection = connect(sink);
    try {
      await until(() => connection.state === "live", 30_000, "live");
      await until(() => /# $/.test(sink.screen), 30_000, "prompt");
      connection.sendInput("yes flood-line\r");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const session = web.sessions.at(-1)!;
      expect(session.bufferedToBrowser).toBeLessThanOrEqual(CONSOLE_LIMITS.flowHighWaterBytes);
      const mark = sink.screen.length;
      const t0 = performance.now();
      connection.sendInput("\x03");
      // The prompt, live ("# ") or in the fresh screen of a skip-ahead: tmux renders it without
      // the trailing blank, then puts the cursor after it (ESC [row;col H).
      const promptBack = new RegExp(`\\^C[\\s\\S]*(# |#${String.fromCharCode(27)}\\[\\d+;\\d+H)$`);
      await until(() => promptBack.test(sink.screen.slice(mark)), 10_000, "prompt after Ctrl-C");
      const ms = performance.now() - t0;
      console.log(`ctrl-c under flood through the web tier: ${ms.toFixed(0)} ms`);
      expect(ms).toBeLessThan(3000);
    } finally {
      connection.stop();
    }
  }, 120_000);
});
