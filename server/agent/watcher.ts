/**
 * The watcher: after a restart it finds every VM again (`rescan`), every 2 s it sweeps the VMs for
 * changes (a `vm.state` event each; guest-initiated halts and boot-stage changes included) and
 * bounds the boot logs, and at start-up it boots the autostart VMs.
 */
import type { BootStage, TaskInfo, VmState } from "../protocol/agent";
import { lastBootOpen, readJournal, settleEnded } from "./boot-journal";
import { capBootLog, currentBootLog, nextBootLog } from "./boot-log";
import { bannersIn, readActive } from "./boot-once";
import { scanUmlProcesses, type UmlProcess } from "./host-procs";
import { ensurePiping } from "./tmux";
import type { VmManager } from "./vm-manager";

interface Seen {
  state: VmState;
  stage: BootStage | null;
  pid: number | null;
  bootId: string | null;
  pausedForSpace: boolean;
}

export class VmWatcher {
  private last = new Map<string, Seen>();
  private sweepTimer: NodeJS.Timeout | null = null;
  /** A whole sweep has run since start-up: `runningPids()` knows every running VM. */
  swept = false;

  constructor(
    private vms: VmManager,
    private log: (line: string) => void,
  ) {}

  /** After a restart: find every VM again, re-attach console logging where the pipe was lost. */
  async rescan(): Promise<void> {
    const all = await scanUmlProcesses();
    for (const name of await this.vms.listNames()) {
      try {
        const runtime = await this.vms.load(name);
        const main = await this.vms.mainProcess(runtime, all);
        if (main) {
          const current = (await currentBootLog(runtime)) ?? (await nextBootLog(runtime, "found-running"));
          await ensurePiping(runtime.paths, runtime.user, current.file);
        }
        this.log(`found vm ${name}: ${main ? `running pid=${main.pid}` : "stopped"}`);
      } catch (error) {
        this.log(`rescan ${name}: ${(error as Error).message}`);
      }
    }
  }

  /** Emits a `vm.state` event when what a client sees of the VM changed. */
  async sweepOne(name: string, all?: readonly UmlProcess[]): Promise<void> {
    const status = await this.vms.status(name, { guest: false, all }).catch(() => null);
    if (!status) return;
    // A one-shot boot that rebooted (UML re-execs with the same command line): start it normally.
    if (status.bootedOnce && !status.busy && (await this.rebootedOnce(name))) {
      await this.vms.lifecycle.revertBootOnce(name).catch((error) => {
        this.log(
          `vm ${name}: could not start it normally after its one-shot boot: ${(error as Error).message}`,
        );
      });
      return;
    }
    const seen: Seen = {
      state: status.state,
      stage: status.stage,
      pid: status.pid,
      bootId: status.bootId,
      pausedForSpace: Boolean(status.pausedForSpace),
    };
    const prev = this.last.get(name);
    // Gone without the agent stopping it (or while the agent was away): how it ended is recorded.
    if (seen.pid === null && (!prev || prev.pid !== null) && !status.busy) await this.recordEnded(name);
    if (
      !prev ||
      prev.state !== seen.state ||
      prev.stage !== seen.stage ||
      prev.pid !== seen.pid ||
      prev.bootId !== seen.bootId ||
      prev.pausedForSpace !== seen.pausedForSpace
    ) {
      this.last.set(name, seen);
      this.vms.events.emit({ v: 1, type: "vm.state", vm: name, ...seen });
    }
  }

  /**
   * Whether the running one-shot boot rebooted: a second kernel banner in its log (the guest's
   * reboot), or a newer log in the same process with a banner (the panel's reboot rotates it).
   */
  private async rebootedOnce(name: string): Promise<boolean> {
    const runtime = await this.vms.load(name).catch(() => null);
    const active = runtime && (await readActive(runtime.paths));
    const current = runtime && (await currentBootLog(runtime));
    if (!active || !current || current.n < active.bootN) return false;
    return (await bannersIn(current.file)) >= (current.n === active.bootN ? 2 : 1);
  }

  private async recordEnded(name: string): Promise<void> {
    const runtime = await this.vms.load(name).catch(() => null);
    if (!runtime || !(await lastBootOpen(runtime.paths))) return;
    await settleEnded(runtime.paths);
    const last = (await readJournal(runtime.paths)).at(-1);
    this.log(
      `vm ${name}: boot ${last?.n} ended (${last?.end}${last?.endDetail ? `: ${last.endDetail}` : ""})`,
    );
  }

  /** The VMs the last sweep saw running, with their UML's pid (the disk-space check's list). */
  runningPids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, seen] of this.last) if (seen.pid !== null) out.set(name, seen.pid);
    return out;
  }

  /** A destroyed VM: forget what was last reported. */
  forget(name: string): void {
    this.last.delete(name);
  }

  startSweeping(everyMs = 2000): void {
    const tick = async () => {
      try {
        const all = await scanUmlProcesses();
        for (const name of await this.vms.listNames()) await this.sweepOne(name, all);
        this.swept = true;
        await this.capLogs();
      } catch (error) {
        this.log(`sweep: ${(error as Error).message}`);
      }
      this.sweepTimer = setTimeout(tick, everyMs);
      this.sweepTimer.unref();
    };
    void tick();
  }

  stopSweeping(): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Bounds each boot log (see `capBootLog`). */
  private async capLogs(): Promise<void> {
    for (const name of await this.vms.listNames()) {
      const runtime = await this.vms.load(name).catch(() => null);
      const truncatedAt = runtime && (await capBootLog(runtime));
      if (truncatedAt) this.log(`vm ${name}: console log truncated at ${truncatedAt} bytes`);
    }
  }

  /** Starts autostart VMs that are not running, `autostartConcurrency` at a time (each until it boots). */
  async autostart(newId: () => string): Promise<void> {
    const queue: string[] = [];
    const all = await scanUmlProcesses();
    for (const name of await this.vms.listNames()) {
      const runtime = await this.vms.load(name).catch(() => null);
      if (runtime?.config.autostart && !(await this.vms.mainProcess(runtime, all))) queue.push(name);
    }
    if (queue.length === 0) return;
    const concurrency = this.vms.config.autostartConcurrency;
    this.log(`autostart: ${queue.join(", ")} (${concurrency} at a time)`);
    const worker = async () => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        try {
          const task = await this.vms.lifecycle.start(newId(), name);
          this.log(`autostart ${name}: task ${task.id} ${task.state}`);
          const done = await new Promise<TaskInfo>((resolve) => {
            const off = this.vms.events.subscribe((event) => {
              if (event.type === "task.done" && event.task.id === task.id) {
                off();
                resolve(event.task);
              }
            });
            // It may have ended before the subscription (a start refused at once).
            const now = this.vms.tasks.getTask(task.id);
            if (now.state !== "running") {
              off();
              resolve(now);
            }
          });
          // Said either way: an autostart VM that stays stopped must say why in the agent's log.
          this.log(
            `autostart ${name}: ${done.state}${done.error ? ` (${done.error.code}: ${done.error.message})` : ""}${done.step ? `, last step ${done.step}` : ""}`,
          );
        } catch (error) {
          this.log(`autostart ${name}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
}
