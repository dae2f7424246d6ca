/**
 * One hub per VM with attached clients: watches the VM's console directory (fs.watch, so no
 * timer sits on the output path) and owns a long-lived `tmux -C` control client for input and
 * resize. The boot log is the single output source: every client reads it from its own offset.
 *
 * Keyboard input is bounded (issue 11 point 4): at most `maxInputInFlightBytes` of keys are given
 * to tmux before it has answered their commands (`%end`/`%error` of client commands), and at most
 * `maxQueuedInputBytes` in all wait here; input beyond that is refused (the caller tells the client
 * with a notice), never queued. A reset or power-off drops what still waits (`dropInput`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type FSWatcher, watch } from "node:fs";
import { createInterface } from "node:readline";
import { CONSOLE_LIMITS } from "../protocol/console";
import { asVmUser } from "./confine/vm-confinement";
import { asUser } from "./exec";
import { SESSION, tmuxControlArgv, tmuxEnv } from "./tmux";
import type { Runtime } from "./vm-manager";

export class ConsoleHub {
  private watcher: FSWatcher | null = null;
  private control: ChildProcess | null = null;
  private starting: Promise<void> | null = null;
  /** Commands for a control client that is still starting. */
  private pending: string[] = [];
  /** Bumped by close(): a client that finishes starting after it is not used. */
  private generation = 0;
  private listeners = new Set<() => void>();
  /** Command lines not yet written to tmux, with the input bytes each carries. */
  private waiting: { line: string; bytes: number }[] = [];
  private waitingBytes = 0;
  /** Input bytes of each command written to tmux and not yet answered, in order. */
  private unanswered: number[] = [];
  private unansweredBytes = 0;
  /** Input is refused until then: the tail of a flood still in flight when a reset was accepted. */
  private refuseInputUntil = 0;

  constructor(
    readonly runtime: Runtime,
    private onEmpty: () => void,
  ) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.watcher) {
      this.watcher = watch(this.runtime.paths.consoleDir, { persistent: false }, () => this.wake());
      this.watcher.on("error", () => undefined);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.close();
    };
  }

  private wake(): void {
    for (const listener of this.listeners) listener();
  }

  /**
   * The control client starts on the first command; for a confined VM it runs in the VM's sandbox
   * (tmux.ts, asVmUser), which takes a look-up first: commands given meanwhile wait in `pending`.
   */
  private send(line: string): void {
    const child = this.control;
    if (child && child.exitCode === null && !child.killed) {
      child.stdin?.write(`${line}\n`);
      return;
    }
    this.pending.push(line);
    if (!this.starting) this.starting = this.startControl().finally(() => (this.starting = null));
  }

  private async startControl(): Promise<void> {
    const generation = this.generation;
    const { paths, user } = this.runtime;
    let client: Awaited<ReturnType<typeof asVmUser>>;
    try {
      client = await asVmUser(paths.dir, user, paths.runDir, tmuxControlArgv(paths));
    } catch {
      this.lost();
      return;
    }
    if (generation !== this.generation) return;
    const [file, ...args] = asUser(client.as, client.argv);
    const child = spawn(file as string, args, {
      shell: false,
      env: tmuxEnv(paths) as NodeJS.ProcessEnv,
      cwd: client.as ? paths.runDir : "/",
      stdio: ["pipe", "pipe", "ignore"],
    });
    // Each command we write is answered by `%end <time> <n> 1` or `%error <time> <n> 1` (flag 1:
    // a client command; the attach itself is answered with flag 0): that is the input window's ACK.
    if (child.stdout) {
      createInterface({ input: child.stdout }).on("line", (line) => {
        if (this.control !== child || !/^%(end|error) \d+ \d+ 1$/.test(line)) return;
        this.unansweredBytes -= this.unanswered.shift() ?? 0;
        this.flush();
      });
    }
    child.stdin?.on("error", () => undefined);
    child.on("error", () => undefined);
    child.on("exit", () => {
      if (this.control !== child) return;
      this.control = null;
      this.lost();
    });
    this.control = child;
    for (const line of this.pending.splice(0)) child.stdin?.write(`${line}\n`);
  }

  /** tmux is gone (VM stopped): what it was given is lost with it, and nothing waits for it. */
  private lost(): void {
    this.pending = [];
    this.unanswered = [];
    this.unansweredBytes = 0;
    this.dropInput();
  }

  private command(line: string, bytes = 0): void {
    this.unanswered.push(bytes);
    this.unansweredBytes += bytes;
    this.send(line);
  }

  /** Input bytes accepted and not yet taken by tmux (waiting here or written and unanswered). */
  get queuedInputBytes(): number {
    return this.waitingBytes + this.unansweredBytes;
  }

  /**
   * Keyboard input: `send-keys -H` takes hex bytes, so no byte is interpreted by tmux. Returns
   * false, keeping nothing, when the frame does not fit in what may be queued (the client types
   * or pastes faster than the VM reads); a frame with Ctrl-C drops the waiting keys and goes in.
   */
  input(bytes: Uint8Array): boolean {
    if (bytes.length === 0) return true;
    if (this.restarting) return false;
    const interrupt = bytes.includes(0x03);
    if (interrupt) {
      // Ctrl-C abandons the backlog, as a tty's line discipline flushes its input on ^C, and goes
      // to tmux at once: behind a full window of keys tmux has not answered yet (a flood), it
      // would wait for them.
      this.dropInput();
      if (bytes.length > CONSOLE_LIMITS.maxInputInFlightBytes) return false;
    } else if (this.queuedInputBytes + bytes.length > CONSOLE_LIMITS.maxQueuedInputBytes) return false;
    for (let i = 0; i < bytes.length; i += 256) {
      const chunk = bytes.subarray(i, i + 256);
      const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, "0")).join(" ");
      const line = `send-keys -t ${SESSION} -H ${hex}`;
      if (interrupt) this.command(line, chunk.length);
      else {
        this.waiting.push({ line, bytes: chunk.length });
        this.waitingBytes += chunk.length;
      }
    }
    this.flush();
    return true;
  }

  /** Gives tmux the waiting keys while it has answered all but a window of them. */
  private flush(): void {
    while (this.waiting.length > 0 && this.unansweredBytes < CONSOLE_LIMITS.maxInputInFlightBytes) {
      const next = this.waiting.shift() as { line: string; bytes: number };
      this.waitingBytes -= next.bytes;
      this.command(next.line, next.bytes);
    }
  }

  /** Within the hold after a power verb: input is refused, none of it reaches the next boot. */
  get restarting(): boolean {
    return Date.now() < this.refuseInputUntil;
  }

  /**
   * Drops the input that still waits; with `holdMs` (a reset or power-off) also refuses input for
   * that long, so the tail of a flood still on its way does not reach the next boot. Returns the
   * bytes dropped.
   */
  dropInput(holdMs = 0): number {
    if (holdMs > 0) this.refuseInputUntil = Math.max(this.refuseInputUntil, Date.now() + holdMs);
    const dropped = this.waitingBytes;
    this.waiting = [];
    this.waitingBytes = 0;
    return dropped;
  }

  /** The power verb's task ended (the next boot is at its prompt): input is taken again. */
  endHold(): void {
    this.refuseInputUntil = 0;
  }

  /** The window size reaches the guest through UML's winch helper (uml.md §1.3). */
  resize(cols: number, rows: number): void {
    this.command(`resize-window -t ${SESSION} -x ${Math.trunc(cols)} -y ${Math.trunc(rows)}`);
  }

  close(): void {
    this.generation++;
    this.watcher?.close();
    this.watcher = null;
    this.dropInput();
    this.pending = [];
    if (this.control) {
      this.control.stdin?.end();
      this.control.kill("SIGTERM");
      this.control = null;
    }
    this.unanswered = [];
    this.unansweredBytes = 0;
    this.onEmpty();
  }
}
