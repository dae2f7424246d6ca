/**
 * `vm.reboot` is one agent task holding the whole fallback (issue 10 point 2), so no web process
 * keeps a timer that matters: Ctrl-Alt-Del, then `graceSeconds` for the guest to come back (its
 * new boot reaches `up` or `waiting-at-console`, as every boot wait), then a `countdownSeconds`
 * countdown, then the hard reset (sync + mconsole reboot, as `vm.reset`), then the wait for the
 * new boot. Each stage is task progress (`task.reboot`, a step, a log line).
 *
 * - A `vm.reset` during the reboot is its hard reset now (`hurry`): no second task.
 * - A `vm.poweroff` / `vm.shutdown` (or a restore's shut down) during it ends it (`end`): the
 *   task fails with `invalid-state`, its log says who stopped the VM.
 * - A marker (`vms/<name>/reboot.json`, root's) lives while the task runs: an agent restarted
 *   mid-reboot reports the task `interrupted` (kept in `reboot-interrupted.json`) and leaves the VM
 *   as it is. On agent stop (`stopAll`) every wait ends without a word; the marker stays.
 */
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Actor, ParsedArgsOf, RebootProgress, TaskInfo, VmStatus } from "../protocol/agent";
import { type BootWatch, nextBootLog } from "./boot-log";
import { AgentFailure } from "./errors";
import { BOOT_WAIT_MS, who } from "./lifecycle";
import { mconsole } from "./mconsole";
import { removeTree } from "./remove-tree";
import { readSmallFileNoFollow } from "./safe-fs";
import type { TaskHandle } from "./tasks";
import { switchConsoleLog } from "./tmux";
import type { Runtime, VmManager } from "./vm-manager";
import { vmPaths } from "./vm-paths";
import { sleep, waitFor } from "./wait";

const INTERRUPTED_KEPT = 20;

interface Run {
  handle: TaskHandle;
  /** Aborted by a vm.reset: the graceful wait or the countdown ends, the hard reset follows. */
  hurry: AbortController;
  hurriedBy: Actor | undefined;
  hurried: boolean;
  resetting: boolean;
  /** Aborted when the reboot ends early (`endedBy`) or the agent stops (`stopped`). */
  stop: AbortController;
  endedBy: string | null;
  stopped: boolean;
}

interface Marker {
  taskId: string;
  startedAt: string;
  reboot: RebootProgress | null;
}

export class Reboots {
  private runs = new Map<string, Run>();

  constructor(
    private vms: VmManager,
    private log: (line: string) => void,
  ) {}

  async start(id: string, args: ParsedArgsOf<"vm.reboot">): Promise<TaskInfo> {
    const { name, graceSeconds, countdownSeconds } = args;
    return this.vms.tasks.task(
      id,
      "vm.reboot",
      name,
      async () => {
        const running = this.runs.get(name);
        if (running) {
          throw new AgentFailure(
            "conflict",
            `${name} is rebooting already (task ${running.handle.current().id})`,
          );
        }
        return this.vms.lifecycle.running(name, "vm.reboot");
      },
      async ({ runtime, unlock }, step, handle) => {
        const run: Run = {
          handle,
          hurry: new AbortController(),
          hurriedBy: undefined,
          hurried: false,
          resetting: false,
          stop: new AbortController(),
          endedBy: null,
          stopped: false,
        };
        this.runs.set(name, run);
        const marker = join(runtime.paths.dir, "reboot.json");
        const started = Date.now();
        const save = (reboot: RebootProgress | null) =>
          this.writeJson(marker, { taskId: id, startedAt: new Date(started).toISOString(), reboot });
        try {
          let bootN: number;
          try {
            await save(null);
            step("ctrl-alt-del");
            const log = await nextBootLog(runtime, "reboot");
            bootN = log.n;
            await switchConsoleLog(runtime.paths, runtime.user, log.file);
            // Ctrl-Alt-Del is guest work: a VM paused for disk space runs again to do it.
            await this.vms.space.release(name, "a reboot");
            await mconsole(runtime.paths.mconsole, ["cad"]);
          } finally {
            unlock();
          }
          const seconds = () => Math.round((Date.now() - started) / 1000);
          const at = (ms: number) => new Date(ms).toISOString();
          const graceEnds = started + graceSeconds * 1000;
          let reboot: RebootProgress = {
            stage: "graceful",
            graceEndsAt: at(graceEnds),
            resetAt: null,
            hardResetBy: null,
          };
          const stage = async (next: RebootProgress, text: string) => {
            reboot = next;
            handle.setReboot(reboot, text);
            await save(reboot).catch(() => undefined);
          };
          await stage(reboot, "rebooting");
          handle.log(`Ctrl-Alt-Del sent: waiting up to ${graceSeconds} s for the guest to come back`);
          const watch = this.vms.lifecycle.watchBoot(runtime, bootN);
          if (await this.until(run, watch, graceEnds)) {
            handle.log(`back after ${seconds()} s: no hard reset needed`);
            return this.vms.status(name, { guest: false });
          }
          if (!run.hurried) {
            const resetAt = Date.now() + countdownSeconds * 1000;
            await stage(
              { ...reboot, stage: "countdown", resetAt: at(resetAt) },
              "not back: counting down to a hard reset",
            );
            handle.log(
              `not back after ${graceSeconds} s: hard reset in ${countdownSeconds} s unless it comes up`,
            );
            if (await this.until(run, watch, resetAt)) {
              handle.log(`back during the countdown, after ${seconds()} s: no hard reset needed`);
              return this.vms.status(name, { guest: false });
            }
          }
          run.resetting = true;
          handle.log(
            run.hurried ? `hard reset asked for by ${who(run.hurriedBy)}` : "countdown over: hard reset",
          );
          await stage(
            { ...reboot, stage: "hard-reset", hardResetBy: run.hurried ? "request" : "countdown" },
            "hard reset",
          );
          return await this.hardReset(run, runtime);
        } finally {
          if (!run.stopped) {
            this.runs.delete(name);
            await removeTree(marker, null).catch(() => undefined);
          }
        }
      },
    );
  }

  /** The hard reset (under the VM's lock, waiting for another holder to finish), then the new boot. */
  private async hardReset(run: Run, runtime: Runtime): Promise<VmStatus> {
    const name = runtime.config.name;
    let unlock: (() => void) | null = null;
    let said = false;
    while (!unlock) {
      try {
        unlock = this.vms.tasks.lock(name, "vm.reboot");
      } catch (error) {
        if (!(error instanceof AgentFailure)) throw error;
        if (!said)
          run.handle.log(`waiting for ${this.vms.tasks.isBusy(name)} to finish before the hard reset`);
        said = true;
        await sleep(250, run.stop.signal);
        await this.checkRun(run);
      }
    }
    let bootN: number;
    try {
      // A vm.reset held the console's input when it was asked; the countdown's own reset does here.
      if (!run.hurried) this.vms.holdConsoleInput?.(name);
      bootN = await this.vms.lifecycle.resetHeld(runtime, (text) =>
        run.handle.setReboot(run.handle.current().reboot as RebootProgress, text),
      );
    } finally {
      unlock();
    }
    run.handle.setReboot(run.handle.current().reboot as RebootProgress, "booting");
    const watch = this.vms.lifecycle.watchBoot(runtime, bootN);
    const up = await waitFor(
      async () => ((await watch.reached()) ? true : null),
      BOOT_WAIT_MS,
      250,
      run.stop.signal,
    );
    await this.checkRun(run);
    // Unlike vm.start, a reboot does not succeed at a boot that never reached a prompt.
    if (!up) {
      throw new AgentFailure(
        "timeout",
        `${name} is not back ${BOOT_WAIT_MS / 1000} s after the hard reset; see its console`,
      );
    }
    run.handle.log("up again after the hard reset");
    return this.vms.status(name, { guest: false });
  }

  /** Waits for the boot until `deadline`; true when it came back, false at the deadline or a hurry. */
  private async until(run: Run, watch: BootWatch, deadline: number): Promise<boolean> {
    const signal = AbortSignal.any([run.hurry.signal, run.stop.signal]);
    const probe = async () => ((await watch.reached()) ? true : null);
    const back = await waitFor(probe, Math.max(0, deadline - Date.now()), 250, signal);
    await this.checkRun(run);
    return Boolean(back);
  }

  /** Ends the work when the reboot was ended (its error) or the agent stops (never settles). */
  private async checkRun(run: Run): Promise<void> {
    if (run.stopped) await new Promise<never>(() => undefined);
    if (run.endedBy) throw new AgentFailure("invalid-state", `the reboot ended: ${run.endedBy}`);
  }

  /** vm.reset during a reboot: the reboot's hard reset now. Returns the reboot task, or null when none runs. */
  hurry(name: string, actor: Actor | undefined): TaskInfo | null {
    const run = this.runs.get(name);
    if (!run || run.endedBy || run.stopped) return null;
    if (!run.hurried && !run.resetting) {
      run.hurried = true;
      run.hurriedBy = actor;
      run.hurry.abort();
    } else {
      run.handle.log(`hard reset asked for by ${who(actor)}: already under way`);
    }
    return run.handle.current();
  }

  /** The VM is being stopped (power off, shut down): a reboot on it ends, failed, saying why. */
  end(name: string, why: string): void {
    const run = this.runs.get(name);
    if (!run || run.endedBy || run.stopped) return;
    run.endedBy = why;
    run.handle.log(`the reboot ends: ${why}`);
    run.stop.abort();
  }

  /** Agent stop: every reboot's waits end now and nothing more is done or reported (the marker stays). */
  stopAll(): void {
    for (const run of this.runs.values()) {
      run.stopped = true;
      run.stop.abort();
    }
  }

  /**
   * At start-up, before the socket opens: a reboot marker means the agent stopped during that
   * reboot. The task is reported `interrupted` (task.get, a task.done event); the VM is left as it is.
   */
  async recover(): Promise<void> {
    for (const name of await this.vms.listNames()) {
      const dir = vmPaths(this.vms.config, name).dir;
      const kept = join(dir, "reboot-interrupted.json");
      const list = await this.readJson<TaskInfo[]>(kept).then((l) => (Array.isArray(l) ? l : []));
      const marker = await this.readJson<Marker>(join(dir, "reboot.json"));
      if (marker && typeof marker.taskId === "string") {
        const task: TaskInfo = {
          id: marker.taskId,
          op: "vm.reboot",
          vm: name,
          state: "interrupted",
          step: "interrupted",
          startedAt: marker.startedAt,
          endedAt: new Date().toISOString(),
          error: { code: "internal", message: "the agent stopped while this task ran" },
          result: null,
          progress: null,
          log: [
            `interrupted at stage "${marker.reboot?.stage ?? "ctrl-alt-del"}"; the restarted agent left the VM as it was`,
          ],
          snapshot: null,
          reboot: marker.reboot,
        };
        list.push(task);
        await this.writeJson(kept, list.slice(-INTERRUPTED_KEPT));
        await removeTree(join(dir, "reboot.json"), null).catch(() => undefined);
        this.vms.events.emit({ v: 1, type: "task.done", task });
        this.log(`reboot recovery ${name}: task ${task.id} interrupted at ${task.log?.[0]}`);
      }
      for (const task of list) this.vms.tasks.recordTask(task);
    }
  }

  private async readJson<T>(path: string): Promise<T | null> {
    try {
      return JSON.parse(await readSmallFileNoFollow(path)) as T;
    } catch {
      return null;
    }
  }

  /** In the VM's root-owned directory: written to a temp name, then renamed. */
  private async writeJson(path: string, value: unknown): Promise<void> {
    await writeFile(`${path}.tmp`, JSON.stringify(value), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
}
