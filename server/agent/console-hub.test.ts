import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CONSOLE_LIMITS } from "../protocol/console";
import { ConsoleHub } from "./console-hub";
import { flushConsoleInput, SESSION } from "./tmux";
import type { Runtime } from "./vm-manager";

/** A real tmux server (as this user) whose pane runs `sleep`: it never reads its keyboard. */
function fakeRuntime(dir: string): Runtime {
  const runDir = join(dir, "run");
  const consoleDir = join(dir, "console");
  mkdirSync(runDir, { recursive: true });
  mkdirSync(consoleDir, { recursive: true });
  const tmuxSocket = join(runDir, "tmux.sock");
  execFileSync("tmux", [
    "-S",
    tmuxSocket,
    "new-session",
    "-d",
    "-s",
    SESSION,
    "-x",
    "80",
    "-y",
    "24",
    "--",
    "sleep",
    "600",
  ]);
  return {
    paths: { runDir, consoleDir, tmuxSocket } as Runtime["paths"],
    user: { name: "test", uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
    config: {} as Runtime["config"],
  };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "zaphod-hub-"));
  const runtime = fakeRuntime(dir);
  const hub = new ConsoleHub(runtime, () => undefined);
  cleanups.push(() => {
    hub.close();
    try {
      execFileSync("tmux", ["-S", runtime.paths.tmuxSocket, "kill-server"]);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  });
  return hub;
}

describe("ConsoleHub keyboard input (check 42: input flood)", () => {
  it("check 42: a 16 KiB-frame flood is bounded: queued input never exceeds the limit, the rest is refused", () => {
    const hub = setup();
    const frame = new Uint8Array(CONSOLE_LIMITS.maxInputBytes).fill(0x61);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      // 6.4 MB in one tick: the hub must refuse what it cannot hold instead of queueing it all
      if (hub.input(frame)) accepted += frame.length;
      else refused += frame.length;
      expect(hub.queuedInputBytes).toBeLessThanOrEqual(CONSOLE_LIMITS.maxQueuedInputBytes);
    }
    expect(accepted).toBeLessThanOrEqual(CONSOLE_LIMITS.maxQueuedInputBytes);
    expect(refused).toBeGreaterThan(0);
  });

  it("drains as tmux takes the keys, so typing at a human pace is never refused", async () => {
    const hub = setup();
    for (let i = 0; i < 50; i++) {
      expect(hub.input(new TextEncoder().encode("ls -l\r"))).toBe(true);
      await new Promise((r) => setTimeout(r, 5));
    }
    const until = Date.now() + 5000;
    while (hub.queuedInputBytes > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(hub.queuedInputBytes).toBe(0);
  });

  it("Ctrl-C still gets through a full queue: it abandons the waiting backlog", () => {
    const hub = setup();
    const frame = new Uint8Array(CONSOLE_LIMITS.maxInputBytes).fill(0x63);
    while (hub.input(frame)) {}
    expect(hub.input(new Uint8Array([0x03]))).toBe(true);
    expect(hub.queuedInputBytes).toBeLessThanOrEqual(CONSOLE_LIMITS.maxInputInFlightBytes + 1);
  });

  it("a reset or power-off drops the queued input", () => {
    const hub = setup();
    const frame = new Uint8Array(CONSOLE_LIMITS.maxInputBytes).fill(0x62);
    while (hub.input(frame)) {}
    expect(hub.queuedInputBytes).toBeGreaterThan(0);
    const dropped = hub.dropInput(200);
    expect(dropped).toBeGreaterThan(0);
    // what tmux was already given (at most one window) is all that can still reach the guest
    expect(hub.queuedInputBytes).toBeLessThanOrEqual(CONSOLE_LIMITS.maxInputInFlightBytes);
    // the tail of the flood still on its way is refused too, for the hold
    expect(hub.restarting).toBe(true);
    expect(hub.input(frame)).toBe(false);
    expect(hub.input(new Uint8Array([0x03]))).toBe(false);
  });

  it("takes input again after the hold", async () => {
    const hub = setup();
    hub.dropInput(50);
    expect(hub.input(new Uint8Array([0x61]))).toBe(false);
    await new Promise((r) => setTimeout(r, 80));
    expect(hub.input(new Uint8Array([0x61]))).toBe(true);
  });

  it("check 42: after a reset, keys tmux already took but the guest had not read never reach it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zaphod-hub-"));
    const runDir = join(dir, "run");
    mkdirSync(runDir);
    mkdirSync(join(dir, "console"));
    const tmuxSocket = join(runDir, "tmux.sock");
    const got = join(dir, "got");
    // A guest that reads nothing for 4 s (tmux holds what it was given), then everything it can.
    execFileSync("tmux", [
      "-S",
      tmuxSocket,
      "new-session",
      "-d",
      "-s",
      SESSION,
      "-x",
      "80",
      "-y",
      "24",
      "--",
      "sh",
      "-c",
      `stty raw -echo; sleep 4; timeout --foreground 2 cat > ${got}`,
    ]);
    const runtime = {
      paths: { runDir, consoleDir: join(dir, "console"), tmuxSocket } as Runtime["paths"],
      user: { name: "test", uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      config: {} as Runtime["config"],
    };
    const hub = new ConsoleHub(runtime, () => undefined);
    cleanups.push(() => {
      hub.close();
      try {
        execFileSync("tmux", ["-S", tmuxSocket, "kill-server"]);
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    });
    const frame = new Uint8Array(CONSOLE_LIMITS.maxInputBytes).fill(0x61);
    let accepted = 0;
    // Until tmux holds well more than the agent may (its pace depends on the machine's load).
    const until = Date.now() + 2500;
    while (Date.now() < until && accepted <= 2 * CONSOLE_LIMITS.maxQueuedInputBytes) {
      if (hub.input(frame)) accepted += frame.length;
      await new Promise((r) => setImmediate(r));
    }
    expect(accepted).toBeGreaterThan(CONSOLE_LIMITS.maxQueuedInputBytes); // tmux holds more than the agent may
    hub.dropInput(2500);
    await flushConsoleInput(runtime.paths, runtime.user, 2500);
    await new Promise((r) => setTimeout(r, 3000));
    expect(statSync(got).size).toBe(0);
  }, 20_000);
});
