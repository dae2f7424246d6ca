/**
 * A stand-in for the agent's `GET /v1/vms/<name>/console` in benches until the real agent runs
 * here: each connection gets bash on a fresh pty (pty-bridge.py), over a Unix socket like the real
 * agent, with the same ACK flow control (never more than the window unacknowledged in flight).
 * Point the bench at the real agent (`--agent-socket`) once it exists.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { CONSOLE_LIMITS, decodeConsoleFrame, encodeConsoleFrame } from "../../server/protocol/console";

const bridge = fileURLToPath(new URL("./pty-bridge.py", import.meta.url));

export const BENCH_PROMPT = "__P__$ ";

export function spawnPtyShell(cols = 100, rows = 30): ChildProcess {
  return spawn("python3", [bridge, String(cols), String(rows), "--", "bash", "--norc", "--noprofile", "-i"], {
    shell: false,
    stdio: ["pipe", "pipe", "ignore", "pipe"], // fd 3: window sizes
    // An allow-listed environment (NODE_ENV only because Next's types make it required).
    env: {
      NODE_ENV: "production",
      PATH: "/usr/bin:/bin",
      TERM: "xterm-256color",
      PS1: BENCH_PROMPT,
      HOME: "/tmp",
      LANG: "C.UTF-8",
    },
  });
}

/** Kills our own child by pid; it may have exited already. */
function killChild(child: ChildProcess): void {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, "SIGKILL");
  } catch {
    // ESRCH: it exited in between
  }
}

export async function startPtyAgent(
  socketPath: string,
  windowBytes: number = CONSOLE_LIMITS.flowHighWaterBytes,
) {
  rmSync(socketPath, { force: true });
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: CONSOLE_LIMITS.maxFrameBytes });
  const children = new Set<ChildProcess>();
  const events = { ctrlAltDel: 0, resizes: [] as { cols: number; rows: number }[], input: "" };
  wss.on("connection", (ws, req) => {
    const vm = /^\/v1\/vms\/([a-z0-9-]+)\/console$/.exec(req.url ?? "")?.[1] ?? "bench";
    const child = spawnPtyShell();
    children.add(child);
    // Node's stdio pipes are socketpairs: when the bridge is killed with keystrokes or a window
    // size still unread, our end reads ECONNRESET (or EPIPE on write). Without a listener that
    // error is an uncaught exception in whatever process hosts the stand-in (a flaky test).
    for (const stream of child.stdio) stream?.on("error", () => {});
    let inFlight = 0;
    ws.send(encodeConsoleFrame({ kind: "control", message: { type: "hello", vm } }));
    ws.send(encodeConsoleFrame({ kind: "control", message: { type: "replay-end" } }));
    child.stdout?.on("data", (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += 32 * 1024) {
        const bytes = chunk.subarray(at, at + 32 * 1024);
        inFlight += bytes.length;
        ws.send(encodeConsoleFrame({ kind: "data", bytes }));
      }
      if (inFlight >= windowBytes) child.stdout?.pause();
    });
    ws.on("message", (data) => {
      const frame = decodeConsoleFrame(new Uint8Array(data as Buffer));
      if (frame.kind === "data") {
        child.stdin?.write(frame.bytes);
        if (events.input.length < 1_000_000) events.input += Buffer.from(frame.bytes).toString("latin1");
      } else if (frame.kind === "resize") {
        events.resizes.push({ cols: frame.cols, rows: frame.rows });
        (child.stdio[3] as Writable | null)?.write(`${frame.cols} ${frame.rows}\n`);
      } else if (frame.kind === "control" && frame.message.type === "ctrl-alt-del") events.ctrlAltDel++;
      else if (frame.kind === "ack") {
        inFlight = Math.max(0, inFlight - frame.bytes);
        if (inFlight < windowBytes) child.stdout?.resume();
      }
    });
    const end = () => {
      killChild(child);
      children.delete(child);
    };
    ws.on("close", end);
    ws.on("error", end);
    child.on("exit", () => ws.close());
  });
  server.listen(socketPath);
  await once(server, "listening");
  return {
    /** What the stand-in saw that a real agent would act on (for tests). */
    events,
    url: (vmName: string) => `ws+unix://${socketPath}:/v1/vms/${vmName}/console`,
    async close() {
      for (const child of children) killChild(child);
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
      rmSync(socketPath, { force: true });
    },
  };
}
