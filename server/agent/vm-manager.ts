/**
 * The VM driver: provisioning, lifecycle, status, per-VM locks, tasks. State lives on disk
 * (`vm.json`) and in /proc (the UML processes), so a restarted agent finds everything again.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { chmod, mkdir, open, readdir, rename, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AGENT_LIMITS,
  type BootStage,
  type DiskUse,
  type ImageInfo,
  type Op,
  type ParsedArgsOf,
  type SnapshotInfo,
  type TaskInfo,
  type TaskOp,
  type VmConfig,
  type VmState,
  type VmStatus,
} from "../protocol/agent";
import { isSlug } from "../protocol/names";
import { detectBootStage } from "./boot-stage";
import type { AgentConfig } from "./config";
import { AgentFailure, toAgentError } from "./errors";
import type { EventBus } from "./event-bus";
import { run } from "./exec";
import { isAlive, mainProcessOfVm, processesOfVm, scanUmlProcesses, type UmlProcess } from "./host-procs";
import { deleteHostUser, ensureHostUser, type HostUser, lookupHostUser } from "./host-users";
import { imagePath } from "./images/publish-image";
import { mconsole, readGuestFigures } from "./mconsole";
import { removeTree, removeVmDir } from "./remove-tree";
import { Revert } from "./revert";
import { ensureDir, lstatOrNull, openRegularNoFollow, readSmallFileNoFollow, readTail } from "./safe-fs";
import { copySparse, openDiskNoFollow } from "./snapshot-copy";
import {
  ensurePiping,
  holderInfo,
  killHolder,
  startConsoleHolder,
  switchConsoleLog,
  TMUX_CONF,
} from "./tmux";
import { bootLogName, parseBootLogName, type VmPaths, vmPaths } from "./vm-paths";

const BOOT_WAIT_MS = 180_000;
const TASKS_KEPT = 500;

/** What a task's work may report besides its step (snapshots use it). */
export interface TaskHandle {
  log(line: string): void;
  progress(percent: number): void;
  setSnapshot(snapshot: SnapshotInfo | null): void;
}

export interface Runtime {
  config: VmConfig;
  paths: VmPaths;
  user: HostUser;
}

interface Snapshot {
  state: VmState;
  stage: BootStage | null;
  pid: number | null;
  bootId: string | null;
}

export function stableMac(name: string): string {
  const hash = createHash("sha256").update(`zaphod:${name}`).digest();
  return ["02", ...[...hash.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class VmManager {
  private locks = new Map<string, Op>();
  private tasks = new Map<string, TaskInfo>();
  private expectStopped = new Set<string>();
  private last = new Map<string, Snapshot>();
  private stages = new Map<
    string,
    { bootId: string; reading: { stage: BootStage; detail: string | null } }
  >();
  private sweepTimer: NodeJS.Timeout | null = null;
  readonly startedAt = Date.now();
  /** The snapshot store (snapshots.ts registers itself): destroy keeps or discards a VM's snapshots. */
  snapshotStore: { keep(vm: string): Promise<string | null>; discard(vm: string): Promise<void> } | null =
    null;

  constructor(
    readonly config: AgentConfig,
    readonly events: EventBus,
    private log: (line: string) => void = (line) => console.error(line),
  ) {}

  // ── registry ──────────────────────────────────────────────────────────────────────────────

  async listNames(): Promise<string[]> {
    const entries = await readdir(this.config.vmsDir, { withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isDirectory() && isSlug(e.name))
      .map((e) => e.name)
      .sort();
  }

  async load(name: string): Promise<Runtime> {
    const paths = vmPaths(this.config, name);
    let config: VmConfig;
    try {
      config = JSON.parse(await readSmallFileNoFollow(paths.configFile)) as VmConfig;
    } catch {
      throw new AgentFailure("not-found", `no VM named ${name}`);
    }
    const user = await lookupHostUser(this.config, config.owner);
    if (!user) throw new AgentFailure("internal", `host user for ${config.owner} is missing`);
    return { config, paths, user };
  }

  private async saveConfig(runtime: Runtime, exclusive = false): Promise<void> {
    const flags = exclusive ? constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY : "w";
    const tmp = `${runtime.paths.configFile}.tmp`;
    if (exclusive) {
      await writeFile(runtime.paths.configFile, `${JSON.stringify(runtime.config, null, 2)}\n`, {
        mode: 0o644,
        flag: flags,
      });
      return;
    }
    await writeFile(tmp, `${JSON.stringify(runtime.config, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, runtime.paths.configFile);
  }

  // ── locks and tasks ───────────────────────────────────────────────────────────────────────

  /** One operation at a time per VM: a second gets `conflict` right away. */
  lock(name: string, op: Op): () => void {
    const holder = this.locks.get(name);
    if (holder) throw new AgentFailure("conflict", `${name} is busy with ${holder}`);
    this.locks.set(name, op);
    let released = false;
    return () => {
      if (!released && this.locks.get(name) === op) this.locks.delete(name);
      released = true;
    };
  }

  getTask(id: string): TaskInfo {
    const task = this.tasks.get(id);
    if (!task) throw new AgentFailure("not-found", "no such task");
    return task;
  }

  /** Keeps a task (e.g. one a restarted agent found interrupted) for task.get. */
  recordTask(task: TaskInfo): void {
    this.tasks.set(task.id, task);
    while (this.tasks.size > TASKS_KEPT) this.tasks.delete(this.tasks.keys().next().value as string);
  }

  /**
   * Runs `work` as a task: `prepare` runs before the reply (its errors are the request's errors,
   * e.g. conflict), `work` runs after it with progress and a final task.done event.
   */
  async task<T>(
    id: string,
    op: TaskOp,
    vm: string,
    prepare: () => Promise<T>,
    work: (prepared: T, step: (text: string) => void, handle: TaskHandle) => Promise<VmStatus | null>,
  ): Promise<TaskInfo> {
    const prepared = await prepare();
    const task: TaskInfo & { log: string[] } = {
      id,
      op,
      vm,
      state: "running",
      step: "accepted",
      startedAt: new Date().toISOString(),
      endedAt: null,
      error: null,
      result: null,
      progress: null,
      log: [],
      snapshot: null,
    };
    this.recordTask(task);
    const emit = () =>
      this.events.emit({ v: 1, type: "task.progress", task: { ...task, log: [...task.log] } });
    const step = (text: string) => {
      task.step = text;
      emit();
    };
    const handle: TaskHandle = {
      log: (line) => {
        task.log.push(line);
        if (task.log.length > AGENT_LIMITS.taskLogLines) task.log.shift();
        this.log(`task ${op} ${vm} ${id}: ${line}`);
        emit();
      },
      progress: (percent) => {
        const rounded = Math.max(0, Math.min(100, Math.round(percent)));
        if (rounded === task.progress) return;
        task.progress = rounded;
        emit();
      },
      setSnapshot: (snapshot) => {
        task.snapshot = snapshot;
      },
    };
    const started = Date.now();
    void (async () => {
      try {
        task.result = await work(prepared, step, handle);
        task.state = "succeeded";
        task.step = "done";
      } catch (error) {
        task.state = "failed";
        task.error = toAgentError(error);
        if (!(error instanceof AgentFailure)) this.log(`task ${op} ${vm} ${id}: ${(error as Error).stack}`);
      }
      task.endedAt = new Date().toISOString();
      this.log(
        `task op=${op} vm=${vm} id=${id} ${task.state}${task.error ? ` code=${task.error.code} (${task.error.message})` : ""} ms=${Date.now() - started}`,
      );
      // The VM's state event goes out before task.done, so a client that stops listening at the end has it.
      await this.sweepOne(vm).catch(() => undefined);
      this.events.emit({ v: 1, type: "task.done", task: { ...task, log: [...task.log] } });
    })();
    return { ...task };
  }

  // ── provisioning ──────────────────────────────────────────────────────────────────────────

  async create(id: string, args: ParsedArgsOf<"vm.create">): Promise<TaskInfo> {
    const paths = vmPaths(this.config, args.name);
    const image = imagePath(this.config.imagesDir, args.image);
    return this.task(
      id,
      "vm.create",
      args.name,
      async () => {
        const unlock = this.lock(args.name, "vm.create");
        try {
          const imageStat = await lstatOrNull(image);
          if (!imageStat?.isFile()) throw new AgentFailure("not-found", `no image named ${args.image}`);
          if (await lstatOrNull(paths.dir))
            throw new AgentFailure("conflict", `a VM named ${args.name} exists`);
        } catch (error) {
          unlock();
          throw error;
        }
        return unlock;
      },
      async (unlock, step) => {
        const revert = new Revert();
        try {
          step("host user");
          const { user, created } = await ensureHostUser(this.config, args.owner);
          if (created) revert.add(() => deleteHostUser(this.config, args.owner));
          step("directories");
          await ensureDir(this.config.vmsDir, null, 0o755);
          await ensureDir(paths.dir, null, 0o755);
          revert.add(() => removeVmDir(paths.dir, this.memberDirs(paths), user));
          for (const dir of [paths.diskDir, paths.runDir, paths.ramDir, paths.consoleDir]) {
            await ensureDir(dir, user, 0o700);
          }
          step("disks");
          await run(["uml_mkcow", "-f", paths.cow, image], { as: user });
          if (args.swapMiB > 0) {
            await run(["truncate", "-s", `${args.swapMiB}M`, "--", paths.swap], { as: user });
            await run(["mkswap", "-L", "swap", "--", paths.swap], { as: user });
          }
          await run(["truncate", "-s", `${args.storageGiB}G`, "--", paths.storage], { as: user });
          await run(["mkfs.ext4", "-q", "-F", "-L", "storage", "--", paths.storage], { as: user });
          const config: VmConfig = {
            name: args.name,
            owner: args.owner,
            image: args.image,
            memoryMiB: args.memoryMiB,
            storageGiB: args.storageGiB,
            swapMiB: args.swapMiB,
            mac: args.mac ?? stableMac(args.name),
            autostart: args.autostart,
            createdAt: new Date().toISOString(),
          };
          await writeFile(paths.tmuxConf, TMUX_CONF, { mode: 0o644 });
          await chmod(paths.tmuxConf, 0o644);
          await this.saveConfig({ config, paths, user }, true);
          revert.success();
          this.events.emit({ v: 1, type: "vm.created", vm: args.name });
          return this.status(args.name, { guest: false });
        } catch (error) {
          await revert.fail();
          throw error;
        } finally {
          unlock();
        }
      },
    );
  }

  async destroy(id: string, args: ParsedArgsOf<"vm.destroy">): Promise<TaskInfo> {
    if (args.confirm !== args.name) {
      throw new AgentFailure("invalid-request", "confirm must repeat the VM name");
    }
    return this.task(
      id,
      "vm.destroy",
      args.name,
      async () => {
        const runtime = await this.load(args.name);
        const unlock = this.lock(args.name, "vm.destroy");
        if (await this.mainProcess(runtime)) {
          unlock();
          throw new AgentFailure("invalid-state", `${args.name} is running; power it off first`);
        }
        return { runtime, unlock };
      },
      async ({ runtime, unlock }, step, handle) => {
        try {
          const { paths, user } = runtime;
          if (this.snapshotStore) {
            step(args.keepSnapshots ? "keeping snapshots" : "removing snapshots");
            if (args.keepSnapshots) {
              const kept = await this.snapshotStore.keep(args.name);
              if (kept) handle.log(`snapshots kept on the host in ${kept}`);
            } else await this.snapshotStore.discard(args.name);
          }
          step("removing disks");
          await killHolder(paths, user);
          await removeVmDir(paths.dir, this.memberDirs(paths), user);
          const others = await this.ownersVms(runtime.config.owner);
          if (others.length === 0) await deleteHostUser(this.config, runtime.config.owner);
          this.last.delete(args.name);
          this.events.emit({ v: 1, type: "vm.destroyed", vm: args.name });
          return null;
        } finally {
          unlock();
        }
      },
    );
  }

  /** The VM's directories that belong to its host user (removed as that user). */
  private memberDirs(paths: VmPaths): string[] {
    return [paths.diskDir, paths.runDir, paths.ramDir, paths.consoleDir];
  }

  private async ownersVms(owner: string): Promise<string[]> {
    const out: string[] = [];
    for (const name of await this.listNames()) {
      const runtime = await this.load(name).catch(() => null);
      if (runtime?.config.owner === owner) out.push(name);
    }
    return out;
  }

  async setAutostart(name: string, autostart: boolean): Promise<VmConfig> {
    const unlock = this.lock(name, "vm.setAutostart");
    try {
      const runtime = await this.load(name);
      runtime.config.autostart = autostart;
      await this.saveConfig(runtime);
      return runtime.config;
    } finally {
      unlock();
    }
  }

  /** Memory for the next boot: the running UML keeps what it booted with. */
  async setMemory(name: string, memoryMiB: number): Promise<VmConfig> {
    const unlock = this.lock(name, "vm.setMemory");
    try {
      const runtime = await this.load(name);
      runtime.config.memoryMiB = memoryMiB;
      await this.saveConfig(runtime);
      return runtime.config;
    } finally {
      unlock();
    }
  }

  /** Takes the VM's lock for offline work: refused while the VM runs. */
  private async stopped(name: string, op: Op, what: string) {
    const runtime = await this.load(name);
    const unlock = this.lock(name, op);
    if (await this.mainProcess(runtime)) {
      unlock();
      throw new AgentFailure("invalid-state", `${name} is running; shut it down before ${what}`);
    }
    return { runtime, unlock };
  }

  /**
   * Offline storage growth: the image file grows (sparse), then `e2fsck -f` and `resize2fs` grow
   * its ext4 — all three run as the VM's host user on the file in its own directory, so nothing
   * the member planted there is reached with more than the member's rights. The agent first opens
   * the file itself (O_NOFOLLOW, a regular file of that user) and refuses anything else.
   */
  async growStorage(id: string, args: ParsedArgsOf<"vm.growStorage">): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.growStorage",
      args.name,
      async () => {
        const held = await this.stopped(args.name, "vm.growStorage", "growing its storage");
        const current = held.runtime.config.storageGiB;
        if (args.storageGiB <= current) {
          held.unlock();
          throw new AgentFailure(
            "invalid-request",
            `storage only grows: ${args.name} has ${current} GiB, asked for ${args.storageGiB} GiB`,
          );
        }
        return held;
      },
      async ({ runtime, unlock }, step, handle) => {
        const { paths, user } = runtime;
        try {
          step("checking the disk");
          const file = await openDiskNoFollow(paths.storage, this.config.privileged ? user.uid : null).catch(
            () => {
              throw new AgentFailure(
                "invalid-state",
                "the storage disk is not a regular file of the VM's user; nothing was changed",
              );
            },
          );
          const before = (await file.stat()).size;
          await file.close();
          const as = { as: user, timeoutMs: 600_000 };
          step("growing the disk file");
          await run(["truncate", "-s", `${args.storageGiB}G`, "--", paths.storage], as);
          try {
            step("checking the filesystem");
            const fsck = await run(["e2fsck", "-f", "-p", "--", paths.storage], {
              ...as,
              allowFailure: true,
            });
            // 0: clean, 1: errors corrected; anything else needs a human.
            if (fsck.code !== 0 && fsck.code !== 1) {
              throw new AgentFailure(
                "invalid-state",
                `e2fsck found problems it did not fix (exit ${fsck.code}); storage left at its size`,
              );
            }
            step("growing the filesystem");
            await run(["resize2fs", "--", paths.storage], as);
          } catch (error) {
            // The filesystem was not grown: give the file its old size back.
            await run(["truncate", "-s", String(before), "--", paths.storage], { as: user }).catch(
              () => undefined,
            );
            throw error;
          }
          handle.log(`storage grown from ${runtime.config.storageGiB} GiB to ${args.storageGiB} GiB`);
          runtime.config.storageGiB = args.storageGiB;
          await this.saveConfig(runtime);
          return this.status(args.name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  /**
   * Offline owner change. With a root agent the VM's files must end up owned by the new owner's
   * host user and out of reach of the old one. The old user controls the VM's directories (it may
   * plant symlinks or hard links there, or still hold a descriptor on a disk file), so the agent
   * neither chowns nor renames anything inside them: it opens each disk file itself (O_NOFOLLOW, a
   * regular file of the old user), copies it (sparse) into fresh files it creates in a new
   * directory of its own, hands those to the new user by descriptor (fchown), swaps the directories
   * (in the root-owned VM directory, where only root can rename), and removes the old user's
   * directories through the removal routine as the old user. Console logs are not carried over.
   */
  async setOwner(id: string, args: ParsedArgsOf<"vm.setOwner">): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.setOwner",
      args.name,
      async () => {
        const held = await this.stopped(args.name, "vm.setOwner", "changing its owner");
        if (held.runtime.config.owner === args.owner) {
          held.unlock();
          throw new AgentFailure("invalid-request", `${args.name} is already owned by ${args.owner}`);
        }
        return held;
      },
      async ({ runtime, unlock }, step, handle) => {
        const { paths, config } = runtime;
        const oldUser = runtime.user;
        const oldOwner = config.owner;
        const revert = new Revert();
        try {
          step("host user");
          const { user, created } = await ensureHostUser(this.config, args.owner);
          if (created) revert.add(() => deleteHostUser(this.config, args.owner));
          await killHolder(paths, oldUser);
          if (this.config.privileged) {
            step("copying disks");
            await this.copyDisksTo(runtime, user, revert);
          }
          runtime.config.owner = args.owner;
          runtime.user = user;
          await this.saveConfig(runtime);
          revert.success();
          handle.log(`owner changed from ${oldOwner} to ${args.owner}`);
        } catch (error) {
          await revert.fail();
          unlock();
          throw error;
        }
        try {
          if (this.config.privileged) {
            step("removing the old owner's files");
            await removeTree(join(paths.dir, "disk.old"), oldUser);
            for (const dir of [paths.runDir, paths.ramDir, paths.consoleDir]) await removeTree(dir, oldUser);
            await this.prepareDirs(runtime);
            if ((await this.ownersVms(oldOwner)).length === 0) await deleteHostUser(this.config, oldOwner);
          }
          return this.status(args.name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  /** Fresh copies of the disks, owned by `user`, swapped in for the old user's disk directory. */
  private async copyDisksTo(runtime: Runtime, user: HostUser, revert: Revert): Promise<void> {
    const { paths } = runtime;
    const staging = join(paths.dir, "disk.new");
    const aside = join(paths.dir, "disk.old");
    await removeTree(staging, user); // left by an interrupted change
    await removeTree(aside, runtime.user);
    await mkdir(staging, { mode: 0o700 });
    revert.add(() => removeTree(staging, user));
    for (const [src, file] of [
      [paths.cow, "root.cow"],
      [paths.swap, "swap.img"],
      [paths.storage, "storage.img"],
    ] as const) {
      if (!(await lstatOrNull(src))) continue;
      const from = await openDiskNoFollow(src, runtime.user.uid).catch(() => {
        throw new AgentFailure(
          "invalid-state",
          `${file} is not a regular file of the VM's user; nothing was changed`,
        );
      });
      try {
        const to = await open(
          join(staging, file),
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        try {
          await to.chown(user.uid, user.gid);
          await copySparse(from, to);
          await to.sync();
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    }
    const dir = await open(staging, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await dir.chown(user.uid, user.gid);
      await dir.sync();
    } finally {
      await dir.close();
    }
    // Both renames happen in the root-owned VM directory: the member cannot interfere.
    await rename(paths.diskDir, aside);
    revert.add(() => rename(aside, paths.diskDir));
    await rename(staging, paths.diskDir);
    revert.add(() => rename(paths.diskDir, staging));
  }

  /** Removes an owner's host user (an account being deleted); refused while the owner has a VM. */
  async removeOwner(owner: string): Promise<{ owner: string; removed: boolean }> {
    const vms = await this.ownersVms(owner);
    if (vms.length > 0) {
      throw new AgentFailure("invalid-state", `${owner} still owns ${vms.join(", ")}`);
    }
    if (!this.config.privileged) return { owner, removed: false };
    const existed = Boolean(await lookupHostUser(this.config, owner));
    if (existed) await deleteHostUser(this.config, owner);
    return { owner, removed: existed && !(await lookupHostUser(this.config, owner)) };
  }

  // ── processes and console logs ────────────────────────────────────────────────────────────

  private key(runtime: Runtime) {
    return {
      name: runtime.config.name,
      cow: runtime.paths.cow,
      uid: this.config.privileged ? runtime.user.uid : null,
    };
  }

  async mainProcess(runtime: Runtime, all?: UmlProcess[]): Promise<UmlProcess | null> {
    return mainProcessOfVm(all ?? (await scanUmlProcesses()), this.key(runtime));
  }

  async bootLogs(runtime: Runtime): Promise<number[]> {
    const files = await readdir(runtime.paths.consoleDir).catch(() => []);
    return files
      .map(parseBootLogName)
      .filter((n): n is number => n !== null)
      .sort((a, b) => a - b);
  }

  async currentBootLog(runtime: Runtime): Promise<{ n: number; file: string } | null> {
    const n = (await this.bootLogs(runtime)).at(-1);
    return n === undefined ? null : { n, file: join(runtime.paths.consoleDir, bootLogName(n)) };
  }

  /** A new boot log; the oldest beyond the kept number are removed. */
  private async nextBootLog(runtime: Runtime): Promise<{ n: number; file: string }> {
    const logs = await this.bootLogs(runtime);
    const n = (logs.at(-1) ?? 0) + 1;
    const keep = AGENT_LIMITS.consoleLogsKept - 1;
    for (const old of logs.slice(0, Math.max(0, logs.length - keep))) {
      // Through the one removal routine: the console directory is the VM user's (a planted
      // symlink is removed, never followed; a planted directory is emptied as that user).
      await removeTree(join(runtime.paths.consoleDir, bootLogName(old)), runtime.user).catch(() => undefined);
    }
    return { n, file: join(runtime.paths.consoleDir, bootLogName(n)) };
  }

  async stageOf(
    runtime: Runtime,
    options: { sticky: boolean } = { sticky: true },
  ): Promise<{ stage: BootStage; detail: string | null; bootId: string | null }> {
    const current = await this.currentBootLog(runtime);
    if (!current) return { stage: "booting", detail: null, bootId: null };
    const tail = await readTail(current.file, 8192).catch(() => Buffer.alloc(0));
    const bootId = String(current.n);
    let reading = detectBootStage(tail.toString("latin1"));
    if (!options.sticky) return { ...reading, bootId };
    // Within one boot a login prompt seen once stays "up" when later output scrolls it away.
    const seen = this.stages.get(runtime.config.name);
    if (reading.stage === "booting" && seen?.bootId === bootId) reading = seen.reading;
    else if (reading.detail !== "shell") this.stages.set(runtime.config.name, { bootId, reading });
    return { ...reading, bootId };
  }

  /** Whether this boot's log already shows the kernel's banner (the guest really (re)booted). */
  private async bannerSeen(file: string, from: number): Promise<{ seen: boolean; next: number }> {
    const handle = await openRegularNoFollow(file).catch(() => null);
    if (!handle) return { seen: false, next: from };
    try {
      const { size } = await handle.stat();
      const length = Math.min(size - from, 1024 * 1024);
      if (length <= 0) return { seen: false, next: from };
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, from);
      const seen = buffer.subarray(0, bytesRead).includes("Linux version ");
      return { seen, next: Math.max(from, from + bytesRead - 16) };
    } finally {
      await handle.close();
    }
  }

  private umlArgv(runtime: Runtime): string[] {
    const { config, paths } = runtime;
    const argv = [
      // Debian 12's UML panics on hosts with a large XSAVE area (AMX) without this shim.
      ...(this.config.umlPreload ? ["/usr/bin/env", `LD_PRELOAD=${this.config.umlPreload}`] : []),
      this.config.umlBinary,
      `mem=${config.memoryMiB}M`,
      `ubd0=${paths.cow},${imagePath(this.config.imagesDir, config.image)}`,
    ];
    if (config.swapMiB > 0) argv.push(`ubd1=${paths.swap}`);
    argv.push(
      `ubd2=${paths.storage}`,
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
    return argv;
  }

  private async prepareDirs(runtime: Runtime): Promise<void> {
    const { paths, user } = runtime;
    const dir = await lstatOrNull(paths.dir);
    if (!dir?.isDirectory() || dir.uid !== (process.getuid?.() ?? 0)) {
      throw new AgentFailure("internal", `${paths.dir} is not the agent's directory`);
    }
    for (const d of [paths.diskDir, paths.runDir, paths.ramDir, paths.consoleDir])
      await ensureDir(d, user, 0o700);
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────

  async start(id: string, name: string): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.start",
      name,
      async () => {
        const runtime = await this.load(name);
        const unlock = this.lock(name, "vm.start");
        try {
          const main = await this.mainProcess(runtime);
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
      async ({ runtime, unlock }, step) => {
        let bootN = 0;
        try {
          bootN = await this.startHeld(runtime, step);
        } finally {
          unlock();
        }
        void this.sweepOne(name);
        step("booting");
        return this.waitForStage(runtime, bootN);
      },
    );
  }

  /** Spawns the VM (the caller holds its lock); returns the new boot log's number. */
  async startHeld(runtime: Runtime, step: (text: string) => void): Promise<number> {
    const name = runtime.config.name;
    step("starting");
    this.expectStopped.delete(name);
    await this.prepareDirs(runtime);
    // A holder left from a VM that died (tmux exits with its pane, but be sure).
    if (await holderInfo(runtime.paths, runtime.user)) await killHolder(runtime.paths, runtime.user);
    const log = await this.nextBootLog(runtime);
    await writeFile(runtime.paths.tmuxConf, TMUX_CONF, { mode: 0o644 });
    await chmod(runtime.paths.tmuxConf, 0o644);
    await startConsoleHolder({
      paths: runtime.paths,
      as: runtime.user,
      argv: this.umlArgv(runtime),
      logFile: log.file,
      cols: 80,
      rows: 24,
    });
    const main = await this.waitFor(async () => this.mainProcess(runtime), 15_000);
    if (!main) throw new AgentFailure("internal", `${name} did not start (see console log)`);
    this.log(`vm ${name} started pid=${main.pid} boot=${log.n}`);
    return log.n;
  }

  private async waitFor<T>(
    probe: () => Promise<T | null>,
    timeoutMs: number,
    everyMs = 200,
  ): Promise<T | null> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const value = await probe();
      if (value) return value;
      await sleep(everyMs);
    }
    return null;
  }

  /** Waits until the console shows a login prompt or a prompt that needs a human; returns the status. */
  async waitForStage(runtime: Runtime, bootN: number): Promise<VmStatus> {
    let missing = 0;
    let banner = false;
    let scanned = 0;
    await this.waitFor(
      async () => {
        // UML re-execs itself on reboot (same pid): a probe can miss it for a moment.
        if (await this.mainProcess(runtime)) missing = 0;
        else if (++missing >= 12) {
          throw new AgentFailure("invalid-state", `${runtime.config.name} stopped while booting`);
        }
        const current = await this.currentBootLog(runtime);
        if (!current || current.n < bootN) return null;
        // Until the kernel banner is in this boot's log, a prompt there is the old system's.
        if (!banner) {
          const probe = await this.bannerSeen(current.file, scanned);
          banner = probe.seen;
          scanned = probe.next;
          if (!banner) return null;
        }
        const stage = await this.stageOf(runtime, { sticky: false });
        return stage.stage !== "booting" ? true : null;
      },
      BOOT_WAIT_MS,
      250,
    );
    return this.status(runtime.config.name, { guest: false });
  }

  private async running(name: string, op: Op) {
    const runtime = await this.load(name);
    const unlock = this.lock(name, op);
    const main = await this.mainProcess(runtime);
    if (!main) {
      unlock();
      throw new AgentFailure("invalid-state", `${name} is not running`);
    }
    return { runtime, unlock, main };
  }

  /** Graceful reboot: Ctrl-Alt-Del through mconsole; the guest's init reboots cleanly. */
  async reboot(id: string, name: string): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.reboot",
      name,
      () => this.running(name, "vm.reboot"),
      async ({ runtime, unlock }, step) => {
        let bootN = 0;
        try {
          step("ctrl-alt-del");
          const log = await this.nextBootLog(runtime);
          bootN = log.n;
          await switchConsoleLog(runtime.paths, runtime.user, log.file);
          await mconsole(runtime.paths.mconsole, ["cad"]);
        } finally {
          unlock();
        }
        step("rebooting");
        return this.waitForStage(runtime, bootN);
      },
    );
  }

  /** Hard reset: emergency sync, then mconsole reboot (same pid, re-exec). */
  async reset(id: string, name: string): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.reset",
      name,
      () => this.running(name, "vm.reset"),
      async ({ runtime, unlock }, step) => {
        let bootN = 0;
        try {
          step("sync");
          await mconsole(runtime.paths.mconsole, ["sysrq", "s"]).catch(() => undefined);
          const log = await this.nextBootLog(runtime);
          bootN = log.n;
          await switchConsoleLog(runtime.paths, runtime.user, log.file);
          step("reset");
          await mconsole(runtime.paths.mconsole, ["reboot"]);
        } finally {
          unlock();
        }
        step("booting");
        return this.waitForStage(runtime, bootN);
      },
    );
  }

  /**
   * Clean shut down: terminate guest processes (sysrq e), wait, emergency sync and remount
   * read-only (sysrq s, u), then halt: the next boot needs no journal recovery (uml.md §2).
   */
  async shutdown(id: string, name: string): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.shutdown",
      name,
      () => this.running(name, "vm.shutdown"),
      async ({ runtime, unlock, main }, step) => {
        try {
          await this.shutdownHeld(runtime, main, step);
          return this.status(name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  /** The clean shut down's steps; the caller holds the VM's lock. */
  async shutdownHeld(runtime: Runtime, main: UmlProcess, step: (text: string) => void): Promise<void> {
    const name = runtime.config.name;
    this.expectStopped.add(name);
    const m = runtime.paths.mconsole;
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
    }
  }

  /** Force off: kill the UML processes (no guest shutdown, like pulling the plug). */
  async poweroff(id: string, name: string): Promise<TaskInfo> {
    return this.task(
      id,
      "vm.poweroff",
      name,
      () => this.running(name, "vm.poweroff"),
      async ({ runtime, unlock }, step) => {
        try {
          this.expectStopped.add(name);
          step("kill");
          await this.killVm(runtime);
          return this.status(name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  private async killVm(runtime: Runtime): Promise<void> {
    const procs = processesOfVm(await scanUmlProcesses(), this.key(runtime));
    for (const p of procs) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {}
    }
    for (const p of procs) await this.waitGone(p.pid, 5000);
    await killHolder(runtime.paths, runtime.user);
  }

  private async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
    return Boolean(await this.waitFor(async () => (isAlive(pid) ? null : true), timeoutMs, 100));
  }

  // ── status ────────────────────────────────────────────────────────────────────────────────

  async diskUse(runtime: Runtime): Promise<DiskUse[]> {
    const out: DiskUse[] = [];
    for (const [disk, path] of [
      ["root", runtime.paths.cow],
      ["swap", runtime.paths.swap],
      ["storage", runtime.paths.storage],
    ] as const) {
      const info = await lstatOrNull(path).catch(() => null);
      if (info?.isFile()) out.push({ disk, apparentBytes: info.size, allocatedBytes: info.blocks * 512 });
    }
    return out;
  }

  async status(
    name: string,
    options: { guest: boolean; all?: UmlProcess[] } = { guest: true },
  ): Promise<VmStatus> {
    const runtime = await this.load(name);
    const main = await this.mainProcess(runtime, options.all);
    const busy = this.locks.get(name) ?? null;
    const { stage, detail, bootId } = await this.stageOf(runtime);
    let state: VmState;
    if (busy === "vm.start" && !main) state = "starting";
    else if ((busy === "vm.shutdown" || busy === "vm.poweroff") && main) state = "stopping";
    else if (main) state = "running";
    else state = (await this.diedUnexpectedly(runtime)) ? "crashed" : "stopped";
    const guest = main && options.guest ? await readGuestFigures(runtime.paths.mconsole) : null;
    return {
      ...runtime.config,
      state,
      stage: main ? stage : null,
      stageDetail: main ? detail : null,
      pid: main?.pid ?? null,
      hostUser: runtime.user.name,
      bootId,
      processUptimeSeconds: main ? Math.max(0, Math.round((Date.now() - main.startedAtMs) / 1000)) : null,
      guest,
      disks: await this.diskUse(runtime),
      busy,
    };
  }

  /** Stopped without the agent stopping it and without the guest halting itself: crashed. */
  private async diedUnexpectedly(runtime: Runtime): Promise<boolean> {
    if (this.expectStopped.has(runtime.config.name)) return false;
    const current = await this.currentBootLog(runtime);
    if (!current) return false;
    const tail = (await readTail(current.file, 2048).catch(() => Buffer.alloc(0))).toString("latin1");
    if (/reboot: (System halted|Power down)|System halted/.test(tail)) return false;
    return /Kernel panic|Segmentation fault|Aborted|F_SETLK failed/.test(tail);
  }

  async list(): Promise<VmStatus[]> {
    const all = await scanUmlProcesses();
    const out: VmStatus[] = [];
    for (const name of await this.listNames()) {
      const status = await this.status(name, { guest: false, all }).catch(() => null);
      if (status) out.push(status);
    }
    return out;
  }

  async images(): Promise<ImageInfo[]> {
    const files = await readdir(this.config.imagesDir).catch(() => []);
    const out: ImageInfo[] = [];
    for (const file of files) {
      const match = /^([a-z][a-z0-9-]{1,30}[a-z0-9])\.ext4$/.exec(file);
      if (!match?.[1]) continue;
      const info = await lstatOrNull(join(this.config.imagesDir, file));
      if (!info?.isFile()) continue;
      let kind: ImageInfo["kind"] = "other";
      let createdAt = info.mtime.toISOString();
      try {
        const manifest = JSON.parse(
          await readSmallFileNoFollow(join(this.config.imagesDir, `${match[1]}.json`)),
        );
        if (manifest.kind === "busybox" || manifest.kind === "debian") kind = manifest.kind;
        if (typeof manifest.createdAt === "string") createdAt = manifest.createdAt;
      } catch {}
      out.push({ name: match[1], kind, sizeBytes: info.size, allocatedBytes: info.blocks * 512, createdAt });
    }
    return out;
  }

  async hostFigures() {
    const meminfo = await readSmallFileNoFollow("/proc/meminfo").catch(() => "");
    const get = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(meminfo)?.[1] ?? 0);
    const fs = await statfs(this.config.dataDir);
    return {
      memTotalKiB: get("MemTotal"),
      memAvailableKiB: get("MemAvailable"),
      swapTotalKiB: get("SwapTotal"),
      swapFreeKiB: get("SwapFree"),
      dataDiskTotalBytes: fs.blocks * fs.bsize,
      dataDiskFreeBytes: fs.bavail * fs.bsize,
    };
  }

  // ── rescan, sweep (events), autostart ────────────────────────────────────────────────────

  /** After a restart: find every VM again, re-attach console logging where the pipe was lost. */
  async rescan(): Promise<void> {
    const all = await scanUmlProcesses();
    for (const name of await this.listNames()) {
      try {
        const runtime = await this.load(name);
        const main = await this.mainProcess(runtime, all);
        if (main) {
          const current = (await this.currentBootLog(runtime)) ?? (await this.nextBootLog(runtime));
          await ensurePiping(runtime.paths, runtime.user, current.file);
        }
        this.log(`found vm ${name}: ${main ? `running pid=${main.pid}` : "stopped"}`);
      } catch (error) {
        this.log(`rescan ${name}: ${(error as Error).message}`);
      }
    }
  }

  async sweepOne(name: string, all?: UmlProcess[]): Promise<void> {
    const status = await this.status(name, { guest: false, all }).catch(() => null);
    if (!status) return;
    const snap: Snapshot = {
      state: status.state,
      stage: status.stage,
      pid: status.pid,
      bootId: status.bootId,
    };
    const prev = this.last.get(name);
    if (
      !prev ||
      prev.state !== snap.state ||
      prev.stage !== snap.stage ||
      prev.pid !== snap.pid ||
      prev.bootId !== snap.bootId
    ) {
      this.last.set(name, snap);
      this.events.emit({ v: 1, type: "vm.state", vm: name, ...snap });
    }
  }

  startSweeping(everyMs = 2000): void {
    const tick = async () => {
      try {
        const all = await scanUmlProcesses();
        for (const name of await this.listNames()) await this.sweepOne(name, all);
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

  /** Bounds each boot log: past the limit it is truncated (O_APPEND writers continue at 0). */
  private async capLogs(): Promise<void> {
    for (const name of await this.listNames()) {
      const runtime = await this.load(name).catch(() => null);
      const current = runtime && (await this.currentBootLog(runtime));
      if (!current) continue;
      const info = await lstatOrNull(current.file);
      if (info?.isFile() && info.size > AGENT_LIMITS.consoleLogMaxBytes) {
        const handle = await open(
          current.file,
          constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
        );
        try {
          if ((await handle.stat()).isFile()) await handle.truncate(0);
        } finally {
          await handle.close();
        }
        this.log(`vm ${name}: console log truncated at ${info.size} bytes`);
      }
    }
  }

  /** Starts autostart VMs that are not running, `autostartConcurrency` at a time (each until it boots). */
  async autostart(newId: () => string): Promise<void> {
    const queue: string[] = [];
    const all = await scanUmlProcesses();
    for (const name of await this.listNames()) {
      const runtime = await this.load(name).catch(() => null);
      if (runtime?.config.autostart && !(await this.mainProcess(runtime, all))) queue.push(name);
    }
    if (queue.length === 0) return;
    this.log(`autostart: ${queue.join(", ")} (${this.config.autostartConcurrency} at a time)`);
    const worker = async () => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        try {
          const task = await this.start(newId(), name);
          await new Promise<void>((resolve) => {
            const off = this.events.subscribe((event) => {
              if (event.type === "task.done" && event.task.id === task.id) {
                off();
                resolve();
              }
            });
          });
        } catch (error) {
          this.log(`autostart ${name}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: this.config.autostartConcurrency }, worker));
  }

  /** For consoles: the VM's runtime when it exists. */
  async runtimeOrNull(name: string): Promise<Runtime | null> {
    return this.load(name).catch(() => null);
  }

  isBusy(name: string): Op | null {
    return this.locks.get(name) ?? null;
  }
}
