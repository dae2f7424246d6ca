/**
 * One hub per VM with attached clients: watches the VM's console directory (fs.watch, so no
 * timer sits on the output path) and owns a long-lived `tmux -C` control client for input and
 * resize. The boot log is the single output source: every client reads it from its own offset.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type FSWatcher, watch } from "node:fs";
import { asUser } from "./exec";
import { SESSION, tmuxControlArgv, tmuxEnv } from "./tmux";
import type { Runtime } from "./vm-manager";

export class ConsoleHub {
  private watcher: FSWatcher | null = null;
  private control: ChildProcess | null = null;
  private listeners = new Set<() => void>();

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

  private controlClient(): ChildProcess {
    if (this.control && this.control.exitCode === null && !this.control.killed) return this.control;
    const [file, ...args] = asUser(this.runtime.user, tmuxControlArgv(this.runtime.paths));
    const child = spawn(file as string, args, {
      shell: false,
      env: tmuxEnv(this.runtime.paths) as NodeJS.ProcessEnv,
      cwd: this.runtime.paths.runDir,
      stdio: ["pipe", "pipe", "ignore"],
    });
    child.stdout?.resume(); // replies (%begin/%end) are not needed; drain them
    child.stdin?.on("error", () => undefined);
    child.on("error", () => undefined);
    child.on("exit", () => {
      if (this.control === child) this.control = null;
    });
    this.control = child;
    return child;
  }

  private command(line: string): void {
    this.controlClient().stdin?.write(`${line}\n`);
  }

  /** Keyboard input: `send-keys -H` takes hex bytes, so no byte is interpreted by tmux. */
  input(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i += 256) {
      const hex = Array.from(bytes.subarray(i, i + 256), (b) => b.toString(16).padStart(2, "0")).join(" ");
      this.command(`send-keys -t ${SESSION} -H ${hex}`);
    }
  }

  /** The window size reaches the guest through UML's winch helper (uml.md §1.3). */
  resize(cols: number, rows: number): void {
    this.command(`resize-window -t ${SESSION} -x ${Math.trunc(cols)} -y ${Math.trunc(rows)}`);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.control) {
      this.control.stdin?.end();
      this.control.kill("SIGTERM");
      this.control = null;
    }
    this.onEmpty();
  }
}
