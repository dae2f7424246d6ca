/**
 * Power verbs: start, hard reset, clean shut down, power off (the reboot is `reboot.ts`). Each is
 * a task holding the VM's lock for the host work and releasing it before it waits for the guest.
 */
import { chmod, writeFile } from "node:fs/promises";
import type {
  Actor,
  BootCause,
  BootOnceMode,
  BootOncePending,
  Op,
  TaskInfo,
  VmStatus,
} from "../protocol/agent";
import { endBoot } from "./boot-journal";
import { BootWatch, nextBootLog } from "./boot-log";
import {
  BOOT_ONCE_TEXT,
  bootOnceArgv,
  consumePending,
  readActive,
  restorePending,
  setPending,
  writeActive,
} from "./boot-once";
import { killConfinedVm } from "./confine/vm-confinement";
import { AgentFailure } from "./errors";
import { isAlive, processesOfVm, scanUmlProcesses, type UmlProcess } from "./host-procs";
import { imagePath } from "./images/publish-image";
import { mconsole } from "./mconsole";
import { ensureDir, lstatOrNull, readSmallFileNoFollow } from "./safe-fs";
import type { StepFn } from "./tasks";
import { holderInfo, killHolder, startConsoleHolder, switchConsoleLog, TMUX_CONF } from "./tmux";
import { isMovingOut } from "./transfer";
import type { Runtime, VmManager } from "./vm-manager";
import { refreshSeed } from "./vm-seed";
import { sleep, waitFor } from "./wait";

export const BOOT_WAIT_MS = 180_000;

export class Lifecycle {
  constructor(
    private vms: VmManager,
    private log: (line: string) => void,
  ) {}

  async start(id: string, name: string): Promise<TaskInfo> {
    const vms = this.vms;
    return vms.tasks.task(
      id,
      "vm.start",
      name,
      async () => {
        const runtime = await vms.load(name);
        // A VM moving to another host stays stopped here (autostart included): it is not this host's.
        if (await isMovingOut(runtime.paths.dir))
          throw new AgentFailure("invalid-state", `${name} is being moved to another host`);
        const unlock = vms.tasks.lock(name, "vm.start");
        try {
          const main = await vms.mainProcess(runtime);
          if (main) throw new AgentFailure("invalid-state", `${name} is already running (pid ${main.pid})`);
          // A taken umid makes UML boot silently under a random one (uml.md §2): refuse instead.
          const umidPid = await readSmallFileNoFollow(runtime.paths.pidFile).catch(() => null);
          if (umidPid && /^\d+$/.test(umidPid.trim()) && isAlive(Number(umidPid.trim()))) {
            const all = await scanUmlProcesses();
            const holder = all.find((p) => p.pid === Number(umidPid.trim()));
            if (holder?.cmdline.includes(`umid=${name}`)) {
              throw new AgentFailure("conflict", `umid ${name} is taken by pid ${holder.pid}`);
            }
          }
        } catch (error) {
          unlock();
          throw error;
        }
        return { runtime, unlock };
      },
      async ({ runtime, unlock }, step, handle) => {
        let bootN = 0;
        try {
          bootN = await this.startHeld(runtime, step, (line) => handle.log(line));
        } finally {
          unlock();
        }
        void vms.watcher.sweepOne(name);
        step("booting");
        return this.waitForStage(runtime, bootN);
      },
    );
  }

  /**
   * The one-shot boot option for the next start (bootOnce.ts), or none. Returns what is pending.
   * The VM's state event says it (a page shows it at once).
   */
  async setBootOnce(
    name: string,
    mode: BootOnceMode | null,
    actor?: Actor,
  ): Promise<{ bootOnce: BootOncePending | null }> {
    const runtime = await this.vms.load(name);
    if (await isMovingOut(runtime.paths.dir))
      throw new AgentFailure("invalid-state", `${name} is being moved to another host`);
    const bootOnce = await setPending(runtime.paths, mode, who(actor));
    this.log(`vm ${name}: next boot ${mode ? BOOT_ONCE_TEXT[mode] : "normal"} (by ${who(actor)})`);
    return { bootOnce };
  }

  /**
   * A one-shot boot rebooted (the guest's reboot re-execs UML with the same command line): the
   * VM is stopped at once (its guest has just shut down or is at its kernel's first lines) and
   * started normally. Skipped while another operation holds the VM (the next sweep retries).
   */
  async revertBootOnce(name: string): Promise<void> {
    const runtime = await this.vms.load(name);
    const unlock = this.vms.tasks.lock(name, "vm.reset");
    try {
      this.log(`vm ${name}: its one-shot boot rebooted; starting it normally`);
      this.vms.info.expectStopped.add(name);
      await this.killVm(runtime);
      await writeActive(runtime.paths, null);
      await this.startHeld(
        runtime,
        () => undefined,
        () => undefined,
        "reboot",
      );
    } finally {
      unlock();
    }
    void this.vms.watcher.sweepOne(name);
  }

  /** Spawns the VM (the caller holds its lock); returns the new boot log's number. */
  async startHeld(
    runtime: Runtime,
    step: StepFn,
    note: (line: string) => void = () => undefined,
    cause: BootCause = "start",
  ): Promise<number> {
    // A one-shot option is this boot's: taken now, so any later boot is a normal one.
    const once = await consumePending(runtime.paths);
    try {
      return await this.spawnHeld(runtime, step, note, once, cause);
    } catch (error) {
      // Nothing ran: the option is still the next boot's.
      if (once && !(await this.vms.mainProcess(runtime))) await restorePending(runtime.paths, once);
      throw error;
    }
  }

  private async spawnHeld(
    runtime: Runtime,
    step: StepFn,
    note: (line: string) => void,
    once: BootOncePending | null,
    cause: BootCause,
  ): Promise<number> {
    const name = runtime.config.name;
    if (once)
      note(`This boot only: ${BOOT_ONCE_TEXT[once.mode]} (asked by ${once.by}); the next boot is normal.`);
    step("starting");
    this.vms.info.expectStopped.delete(name);
    await this.prepareDirs(runtime);
    // A holder left from a VM that died (tmux exits with its pane, but be sure).
    if (await holderInfo(runtime.paths, runtime.user)) await killHolder(runtime.paths, runtime.user);
    const log = await nextBootLog(runtime, cause);
    await writeFile(runtime.paths.tmuxConf, TMUX_CONF, { mode: 0o644 });
    await chmod(runtime.paths.tmuxConf, 0o644);
    await refreshSeed(runtime, this.vms.config.privileged);
    // Its network link (net/vm-link.ts): with an address, networking on and confined; else none.
    const link = await this.vms.network.linkUp(runtime);
    await startConsoleHolder({
      paths: runtime.paths,
      as: runtime.user,
      argv: bootOnceArgv(this.umlArgv(runtime, link !== null), once?.mode ?? null),
      logFile: log.file,
      cols: 80,
      rows: 24,
      confined: {
        name,
        memoryMiB: runtime.config.memoryMiB,
        readOnly: [
          imagePath(this.vms.config.imagesDir, runtime.config.image),
          runtime.paths.seedDisk,
          ...(this.vms.config.umlPreload ? [this.vms.config.umlPreload] : []),
        ],
        devices: link ? [{ source: link.tunNode, target: "/dev/net/tun" }] : [],
      },
    });
    const main = await waitFor(async () => this.vms.mainProcess(runtime), 15_000);
    if (!main) throw new AgentFailure("internal", `${name} did not start (see console log)`);
    this.log(`vm ${name} started pid=${main.pid} boot=${log.n}`);
    await writeActive(runtime.paths, once ? { mode: once.mode, pid: main.pid, bootN: log.n } : null);
    return log.n;
  }

  /** A watch on boot `bootN` of the VM (see BootWatch). */
  watchBoot(runtime: Runtime, bootN: number): BootWatch {
    return new BootWatch(runtime, bootN, async () => Boolean(await this.vms.mainProcess(runtime)));
  }

  /** Waits until the console shows a login prompt or a prompt that needs a human; returns the status. */
  async waitForStage(runtime: Runtime, bootN: number): Promise<VmStatus> {
    const watch = this.watchBoot(runtime, bootN);
    await waitFor(async () => ((await watch.reached()) ? true : null), BOOT_WAIT_MS, 250);
    return this.vms.status(runtime.config.name, { guest: false });
  }

  /** Takes the VM's lock for `op` when it runs; refused (`invalid-state`) when it does not. */
  async running(name: string, op: Op) {
    const runtime = await this.vms.load(name);
    const unlock = this.vms.tasks.lock(name, op);
    const main = await this.vms.mainProcess(runtime);
    if (!main) {
      unlock();
      throw new AgentFailure("invalid-state", `${name} is not running`);
    }
    return { runtime, unlock, main };
  }

  /**
   * Hard reset: emergency sync, then mconsole reboot (same pid, re-exec). During a reboot task it
   * starts no task of its own: the reboot does its hard reset now and the reply is that task.
   */
  async reset(id: string, name: string, actor?: Actor): Promise<TaskInfo> {
    const hurried = this.vms.reboots.hurry(name, actor);
    if (hurried) return hurried;
    return this.vms.tasks.task(
      id,
      "vm.reset",
      name,
      () => this.running(name, "vm.reset"),
      async ({ runtime, unlock }, step) => {
        let bootN = 0;
        try {
          bootN = await this.resetHeld(runtime, step);
        } finally {
          unlock();
        }
        step("booting");
        return this.waitForStage(runtime, bootN);
      },
    );
  }

  /** The hard reset's host work (the caller holds the VM's lock); returns the new boot's number. */
  async resetHeld(runtime: Runtime, step: StepFn): Promise<number> {
    // A one-shot boot is not reset into itself (mconsole reboot keeps the command line): a
    // plain start, after the emergency sync.
    const main = await this.vms.mainProcess(runtime);
    const active = await readActive(runtime.paths);
    if (main && active?.pid === main.pid) {
      step("sync");
      await mconsole(runtime.paths.mconsole, ["sysrq", "s"]).catch(() => undefined);
      await sleep(300);
      step("reset");
      this.vms.info.expectStopped.add(runtime.config.name);
      await this.killVm(runtime);
      await writeActive(runtime.paths, null);
      return this.startHeld(runtime, step, () => undefined, "hard-reset");
    }
    // A VM paused for disk space runs again first: a stopped UML would not sync, and the reset
    // keeps its pid, so the pause would outlive the boot it stopped.
    await this.vms.space.release(runtime.config.name, "a hard reset");
    step("sync");
    await mconsole(runtime.paths.mconsole, ["sysrq", "s"]).catch(() => undefined);
    const log = await nextBootLog(runtime, "hard-reset");
    await switchConsoleLog(runtime.paths, runtime.user, log.file);
    step("reset");
    await mconsole(runtime.paths.mconsole, ["reboot"]);
    return log.n;
  }

  /**
   * Clean shut down: terminate guest processes (sysrq e), wait, emergency sync and remount
   * read-only (sysrq s, u), then halt: the next boot needs no journal recovery (uml.md §2).
   */
  async shutdown(id: string, name: string, actor?: Actor): Promise<TaskInfo> {
    return this.vms.tasks.task(
      id,
      "vm.shutdown",
      name,
      () => this.running(name, "vm.shutdown"),
      async ({ runtime, unlock, main }, step) => {
        try {
          await this.shutdownHeld(runtime, main, step, `a clean shut down asked for by ${who(actor)}`);
          return this.vms.status(name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  /** The clean shut down's steps; the caller holds the VM's lock. A running reboot ends (`why`). */
  async shutdownHeld(
    runtime: Runtime,
    main: UmlProcess,
    step: StepFn,
    why = "a clean shut down (snapshot restore)",
  ): Promise<void> {
    const name = runtime.config.name;
    this.vms.reboots.end(name, why);
    this.vms.info.expectStopped.add(name);
    await endBoot(runtime.paths, "shutdown").catch(() => undefined);
    const m = runtime.paths.mconsole;
    // A stopped UML runs no guest work: no TERM, no sync, no remount; a clean shut down needs it.
    await this.vms.space.release(name, "a clean shut down");
    step("terminating processes");
    await mconsole(m, ["sysrq", "e"]).catch(() => undefined);
    await sleep(1500);
    step("sync and remount read-only");
    await mconsole(m, ["sysrq", "s"]).catch(() => undefined);
    await mconsole(m, ["sysrq", "u"]).catch(() => undefined);
    await sleep(500);
    step("halt");
    await mconsole(m, ["halt"]).catch(() => undefined);
    if (!(await this.waitGone(main.pid, 10_000))) {
      this.log(`vm ${name}: halt did not stop pid ${main.pid}; killing`);
      await this.killVm(runtime);
    } else await this.vms.network.linkDown(runtime).catch(() => undefined);
  }

  /** Force off: kill the UML processes (no guest shutdown, like pulling the plug). */
  async poweroff(id: string, name: string, actor?: Actor): Promise<TaskInfo> {
    return this.vms.tasks.task(
      id,
      "vm.poweroff",
      name,
      () => this.running(name, "vm.poweroff"),
      async ({ runtime, unlock }, step) => {
        try {
          this.vms.reboots.end(name, `a power off asked for by ${who(actor)}`);
          this.vms.info.expectStopped.add(name);
          await endBoot(runtime.paths, "force-off").catch(() => undefined);
          step("kill");
          await this.killVm(runtime);
          return this.vms.status(name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  private async killVm(runtime: Runtime): Promise<void> {
    const procs = processesOfVm(await scanUmlProcesses(), this.vms.processKey(runtime));
    for (const p of procs) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {}
    }
    for (const p of procs) await this.waitGone(p.pid, 5000);
    await killHolder(runtime.paths, runtime.user);
    await killConfinedVm(runtime.config.name);
    await this.vms.network.linkDown(runtime).catch(() => undefined);
  }

  private async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
    return Boolean(await waitFor(async () => (isAlive(pid) ? null : true), timeoutMs, 100));
  }

  private umlArgv(runtime: Runtime, network = false): string[] {
    const { config, paths } = runtime;
    const agent = this.vms.config;
    const argv = [
      // Debian 12's UML panics on hosts with a large XSAVE area (AMX) without this shim.
      ...(agent.umlPreload ? ["/usr/bin/env", `LD_PRELOAD=${agent.umlPreload}`] : []),
      agent.umlBinary,
      `mem=${config.memoryMiB}M`,
      `ubd0=${paths.cow},${imagePath(agent.imagesDir, config.image)}`,
    ];
    if (config.swapMiB > 0) argv.push(`ubd1=${paths.swap}`);
    argv.push(
      `ubd2=${paths.storage}`,
      // The seed disk (vm-seed.ts), read-only: the guest's /dev/ubdd.
      `ubd3r=${paths.seedDisk}`,
      `umid=${config.name}`,
      `uml_dir=${paths.runDir}`,
      "con0=fd:0,fd:1",
      "con=null",
      "ssl=null",
      // hostfs is compiled into Debian's UML: confine it to a directory that does not exist.
      `hostfs=${paths.ramDir}/no-hostfs`,
      "root=/dev/ubda",
      "rw",
      "init=/sbin/init",
      `zvm.hostname=${config.name}`,
    );
    // The tap in the VM's own namespace (net/vm-link.ts), with the MAC made from its address. The
    // vector driver needs GRO: without it the host's GSO frames do not fit its buffers and it
    // receives ~0.1 MiB/s (bench/net/README.md). The guest sees vec0 and names it eth0 (by MAC).
    if (network && agent.network?.nic === "tuntap") argv.push(`eth0=tuntap,tap0,${config.mac}`);
    else if (network) argv.push(`vec0:transport=tap,ifname=tap0,mac=${config.mac},gro=1`);
    return argv;
  }

  /** The VM's member-owned directories, (re)made as its user under the agent's own VM directory. */
  async prepareDirs(runtime: Runtime): Promise<void> {
    const { paths, user } = runtime;
    const dir = await lstatOrNull(paths.dir);
    if (!dir?.isDirectory() || dir.uid !== (process.getuid?.() ?? 0)) {
      throw new AgentFailure("internal", `${paths.dir} is not the agent's directory`);
    }
    for (const d of [paths.diskDir, paths.runDir, paths.ramDir, paths.consoleDir])
      await ensureDir(d, user, 0o700);
  }
}

/** The acting user's name for a task's log; requests without one come from the host (CLI). */
export function who(actor: Actor | undefined): string {
  return actor ? actor.username : "the host";
}
