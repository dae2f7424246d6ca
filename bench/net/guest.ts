/**
 * One busybox UML guest for the network bench, booted directly (no agent): `init=/bin/sh` on
 * `con0=fd:0,fd:1`, the console being the UML process's own stdin/stdout pipes. Commands go in as
 * lines; each is followed by `echo "@@""E<n> $?"`, whose output (`@@E<n> 0`) differs from the
 * tty's echo of it (`"@@""E<n>`), so the end of a command is found in the output without a tty.
 * UML runs as root inside the given network namespace (`ip netns exec` execs it, so the pid we
 * hold is UML's) in a process group of its own, which `kill()` ends with every helper and stub.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { baseEnv } from "../../server/agent/exec";

export class Guest {
  private out = "";
  private waiters = new Set<() => void>();
  private seq = 0;
  private exited = false;
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    netns: string,
    umlArgv: string[],
  ) {
    this.child = spawn("ip", ["netns", "exec", netns, ...umlArgv], {
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
      env: baseEnv() as NodeJS.ProcessEnv,
      cwd: "/",
    });
    const take = (data: Buffer) => {
      this.out += data.toString("latin1").replaceAll("\r", "");
      for (const wake of this.waiters) wake();
    };
    this.child.stdout?.on("data", take);
    this.child.stderr?.on("data", take);
    this.child.stdin?.on("error", () => undefined);
    this.child.once("exit", () => {
      this.exited = true;
      for (const wake of this.waiters) wake();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The current end of the console output (for `waitFor`). */
  mark(): number {
    return this.out.length;
  }

  /** The output from `from` on. */
  since(from: number): string {
    return this.out.slice(from);
  }

  tail(chars = 2000): string {
    return this.out.slice(-chars);
  }

  /** The first match of `re` in the output after `from`, waiting up to `timeoutMs`. */
  waitFor(re: RegExp, from: number, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.out.slice(from));
        if (m) return done(() => resolve(m));
        if (this.exited) done(() => reject(new Error(`${this.name}: UML exited; console:\n${this.tail()}`)));
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(new Error(`${this.name}: no ${re} in ${timeoutMs} ms; console:\n${this.tail()}`)),
          ),
        timeoutMs,
      );
      const done = (then: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        then();
      };
      this.waiters.add(check);
      check();
    });
  }

  write(text: string): void {
    if (!this.exited) this.child.stdin?.write(text);
  }

  /** Runs one shell line in the guest; its output (with the tty's echo) and exit status. */
  async sh(line: string, timeoutMs = 30_000): Promise<{ code: number; out: string }> {
    const n = ++this.seq;
    const from = this.mark();
    this.write(`${line}\necho "@@""E${n} $?"\n`);
    const m = await this.waitFor(new RegExp(`@@E${n} (\\d+)`), from, timeoutMs);
    return { code: Number(m[1]), out: this.since(from).slice(0, m.index) };
  }

  /** Waits for the guest's shell: a probe line every second until one is answered. */
  async waitForShell(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const from = this.mark();
      this.write(`echo "@@""UP"\n`);
      const up = await this.waitFor(/@@UP/, from, 1000).then(
        () => true,
        (error: Error) => {
          if (this.exited) throw error;
          return false;
        },
      );
      if (up) return;
    }
    throw new Error(`${this.name}: no shell after ${timeoutMs} ms; console:\n${this.tail()}`);
  }

  /** SIGKILL to the guest's process group (UML, its helpers, one stub per guest process); waits until none is left. */
  async kill(): Promise<void> {
    const pgid = this.pid;
    if (pgid <= 0) return;
    for (let i = 0; i < 50; i++) {
      const left = await processesInGroups([pgid]);
      if (left.length === 0 && (this.exited || i > 0)) return;
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name}: processes of group ${pgid} still running after SIGKILL`);
  }
}

export interface ProcCpu {
  pid: number;
  pgrp: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

/** Every process whose process group is one of `pgids`, with its CPU time so far. */
export async function processesInGroups(pgids: number[]): Promise<ProcCpu[]> {
  const want = new Set(pgids);
  const found: ProcCpu[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    if (!want.has(pgrp)) continue;
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    found.push({ pid: Number(entry), pgrp, ticks });
  }
  return found;
}

/** CPU ticks (USER_HZ, 100 on Linux) of those process groups so far. */
export async function groupTicks(pgids: number[]): Promise<number> {
  return (await processesInGroups(pgids)).reduce((sum, p) => sum + p.ticks, 0);
}
