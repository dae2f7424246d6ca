/**
 * The free-space reserve (issue 11 point 3): VM disks are sparse, so what the guests write can
 * fill the host's disk long after provisioning said yes. The reserve is a share or a fixed size of
 * the data directory's filesystem (`ZAPHOD_DISK_RESERVE`, default 5%; the admin's setting in
 * `<data>/disk-reserve.json` overrides it). Two rules keep it:
 *
 * - work that claims space (provisioning, storage growth, a snapshot, a restore's copies) is
 *   refused (`no-space`) when free space minus the reserve is below what it could need;
 * - a check (`statfs` every 50 ms; the disks' allocation sampled every 2 s, at every check near the
 *   reserve) pauses the
 *   running VMs whose disks grew since the check before (mconsole `stop`, biggest growth first)
 *   when free space is below the reserve, and resumes them (`go`) when it is back above the reserve
 *   plus a margin, or when the admin says so (`vm.resume`). Nothing is ever deleted to free space.
 *
 * A pause is persisted in the VM's root-owned directory (`space-pause.json`) with the UML's pid,
 * so a restarted agent still reports it; a VM whose process changed (powered off, restarted) is no
 * longer paused.
 */
import { readFile, rename, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DiskReserveSetting, type HostResources, type SpacePause } from "../protocol/agent";
import { AgentFailure } from "./errors";
import { mconsole } from "./mconsole";
import { lstatOrNull } from "./safe-fs";
import type { VmManager } from "./vm-manager";
import { type VmPaths, vmPaths } from "./vm-paths";

/**
 * A guest writes through the host's page cache at hundreds of MB/s (measured here: 153 and 165
 * MiB between two checks 250 ms and 2 s apart), so free space is read (one statfs) every 50 ms.
 * The VMs' disks (three lstat each) are sampled at every read within 4× the reserve or while a
 * VM is paused, else every 2 s.
 */
export const SPACE_CHECK_MS = { statfs: 50, sample: 2000 } as const;

export function needsSample(input: {
  freeBytes: number;
  reserveBytes: number;
  pausedCount: number;
  sinceSampleMs: number;
}): boolean {
  return (
    input.freeBytes < input.reserveBytes * 4 ||
    input.pausedCount > 0 ||
    input.sinceSampleMs >= SPACE_CHECK_MS.sample
  );
}
const MiB = 1024 ** 2;

export interface DiskFigures {
  totalBytes: number;
  freeBytes: number;
  reserveBytes: number;
  setting: DiskReserveSetting;
}

export function reserveBytesOf(setting: DiskReserveSetting, totalBytes: number): number {
  return "percent" in setting ? Math.round((totalBytes * setting.percent) / 100) : setting.bytes;
}

/** Paused VMs resume when free space is this far above the reserve (hysteresis: no flapping). */
export function resumeMarginOf(reserveBytes: number): number {
  return Math.max(Math.round(reserveBytes / 4), 16 * MiB);
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

/**
 * One check's decision. Below the reserve: pause every VM not yet paused whose disks grew, the
 * biggest writer first. Above reserve + margin: resume every paused VM. Between: nothing changes.
 */
export function spaceDecision(input: {
  freeBytes: number;
  reserveBytes: number;
  growth: { vm: string; grewBytes: number }[];
  paused: string[];
}): { pause: { vm: string; grewBytes: number }[]; resume: string[] } {
  if (input.freeBytes < input.reserveBytes) {
    const pause = input.growth
      .filter((g) => g.grewBytes > 0 && !input.paused.includes(g.vm))
      .sort((a, b) => b.grewBytes - a.grewBytes);
    return { pause, resume: [] };
  }
  if (input.freeBytes >= input.reserveBytes + resumeMarginOf(input.reserveBytes))
    return { pause: [], resume: [...input.paused] };
  return { pause: [], resume: [] };
}

interface PauseRecord extends SpacePause {
  pid: number;
}

export class DiskSpaceGuard {
  private setting: DiskReserveSetting;
  private paused = new Map<string, PauseRecord>();
  /** Allocated bytes of each running VM's disks at the check before. */
  private allocated = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private sampledAt = 0;

  constructor(
    private vms: VmManager,
    private log: (line: string) => void,
  ) {
    this.setting = vms.config.diskReserve;
  }

  private get settingFile(): string {
    return join(this.vms.config.dataDir, "disk-reserve.json");
  }

  private pauseFile(name: string): string {
    return join(this.vms.config.vmsDir, name, "space-pause.json");
  }

  /** Start-up: the admin's reserve and the pauses a previous agent recorded. */
  async load(): Promise<void> {
    const saved = await readFile(this.settingFile, "utf8").catch(() => null);
    if (saved) {
      let value: unknown = null;
      try {
        value = JSON.parse(saved);
      } catch {}
      const parsed = DiskReserveSetting.safeParse(value);
      if (parsed.success) this.setting = parsed.data;
      else this.log(`disk reserve: ignoring ${this.settingFile} (not a reserve setting)`);
    }
    for (const name of await this.vms.listNames()) {
      const text = await readFile(this.pauseFile(name), "utf8").catch(() => null);
      if (!text) continue;
      try {
        this.paused.set(name, JSON.parse(text) as PauseRecord);
      } catch {
        await rm(this.pauseFile(name), { force: true });
      }
    }
  }

  async figures(): Promise<DiskFigures> {
    const fs = await statfs(this.vms.config.dataDir);
    const totalBytes = fs.blocks * fs.bsize;
    return {
      totalBytes,
      freeBytes: fs.bavail * fs.bsize,
      reserveBytes: reserveBytesOf(this.setting, totalBytes),
      setting: this.setting,
    };
  }

  /** The host figures' disk part (`agent.health`, `host.setDiskReserve`). */
  async hostDisk(): Promise<
    Pick<
      HostResources,
      "dataDiskTotalBytes" | "dataDiskFreeBytes" | "dataDiskReserveBytes" | "dataDiskReserve"
    >
  > {
    const f = await this.figures();
    return {
      dataDiskTotalBytes: f.totalBytes,
      dataDiskFreeBytes: f.freeBytes,
      dataDiskReserveBytes: f.reserveBytes,
      dataDiskReserve: f.setting,
    };
  }

  async setReserve(setting: DiskReserveSetting): Promise<void> {
    const tmp = `${this.settingFile}.tmp`;
    await writeFile(tmp, `${JSON.stringify(setting)}\n`, { mode: 0o600 });
    await rename(tmp, this.settingFile);
    this.setting = setting;
    this.log(`disk reserve set to ${JSON.stringify(setting)}`);
    this.kick();
  }

  /**
   * Refuses work that could need `needBytes` more on the data directory's filesystem than is
   * free above the reserve. `what` names the work: "the new VM's disks", "the snapshot", …
   */
  async assertRoom(needBytes: number, what: string): Promise<void> {
    const f = await this.figures();
    const room = f.freeBytes - f.reserveBytes;
    if (needBytes > room)
      throw new AgentFailure(
        "no-space",
        `not enough free disk space on the host: ${what} could need ${formatSize(needBytes)}, and ${formatSize(Math.max(0, room))} is free above the host's ${formatSize(f.reserveBytes)} reserve (${formatSize(f.freeBytes)} free)`,
      );
  }

  pauseOf(name: string): SpacePause | null {
    const record = this.paused.get(name);
    if (!record) return null;
    const { pid: _pid, ...pause } = record;
    return pause;
  }

  isPaused(name: string): boolean {
    return this.paused.has(name);
  }

  /** The admin's resume (`vm.resume`): the VM runs again; if it grows while below the reserve, it is paused again. */
  async resume(name: string, why: "space" | "admin"): Promise<void> {
    const { paths } = await this.vms.load(name);
    if (!this.paused.has(name))
      throw new AgentFailure("invalid-state", `${name} is not paused for disk space`);
    await mconsole(paths.mconsole, ["go"]);
    await this.forget(name);
    this.allocated.set(name, await allocatedBytes(paths));
    const f = await this.figures();
    this.log(
      `vm ${name}: resumed (${why === "admin" ? "by the admin" : "space is back"}; ${formatSize(f.freeBytes)} free, reserve ${formatSize(f.reserveBytes)})`,
    );
    await this.vms.watcher.sweepOne(name);
  }

  /**
   * A power verb that needs the guest to run (clean shut down, reboot, hard reset) ends the pause
   * first; if the VM then writes while free space is still below the reserve, it is paused again.
   */
  async release(name: string, why: string): Promise<void> {
    if (!this.paused.has(name)) return;
    await mconsole(vmPaths(this.vms.config, name).mconsole, ["go"]).catch(() => undefined);
    await this.forget(name);
    this.log(`vm ${name}: resumed for ${why}`);
  }

  /** The pause record goes (resumed, or the VM's process is gone). */
  private async forget(name: string): Promise<void> {
    this.paused.delete(name);
    await rm(this.pauseFile(name), { force: true });
  }

  start(): void {
    const tick = async () => {
      try {
        const f = await this.figures();
        const sinceSampleMs = Date.now() - this.sampledAt;
        if (needsSample({ ...f, pausedCount: this.paused.size, sinceSampleMs })) await this.check();
      } catch (error) {
        this.log(`disk space check: ${(error as Error).message}`);
      }
      this.timer = setTimeout(tick, SPACE_CHECK_MS.statfs);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A check now (after the reserve changed); the timer keeps its own pace. */
  private kick(): void {
    void this.check().catch((error) => this.log(`disk space check: ${(error as Error).message}`));
  }

  /** One check: free space, the running VMs' allocation against the sample before, the decision. */
  check(): Promise<void> {
    if (this.checking) return this.checking;
    this.checking = (async () => {
      const f = await this.figures();
      if (!this.vms.watcher.swept) return; // which VMs run is known after the first sweep
      this.sampledAt = Date.now();
      const running = this.vms.watcher.runningPids();
      for (const [name, record] of this.paused)
        if (running.get(name) !== record.pid) {
          await this.forget(name);
          this.log(`vm ${name}: no longer paused for disk space (its process ended)`);
          await this.vms.watcher.sweepOne(name);
        }
      const growth: { vm: string; grewBytes: number }[] = [];
      for (const name of running.keys()) {
        const now = await allocatedBytes(vmPaths(this.vms.config, name));
        const before = this.allocated.get(name);
        this.allocated.set(name, now);
        if (before !== undefined) growth.push({ vm: name, grewBytes: now - before });
      }
      for (const name of this.allocated.keys()) if (!running.has(name)) this.allocated.delete(name);
      const decision = spaceDecision({ ...f, growth, paused: [...this.paused.keys()] });
      for (const { vm, grewBytes } of decision.pause) {
        const pid = running.get(vm);
        if (pid !== undefined) await this.pause(vm, pid, f, grewBytes);
      }
      for (const vm of decision.resume)
        await this.resume(vm, "space").catch((error) =>
          this.log(`vm ${vm}: resume failed: ${(error as Error).message}`),
        );
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async pause(name: string, pid: number, f: DiskFigures, grewBytes: number): Promise<void> {
    // Snapshots and restores pause and resume the VM themselves; they hold its lock meanwhile.
    if (this.vms.tasks.isBusy(name)?.startsWith("snapshot.")) return;
    try {
      await mconsole(vmPaths(this.vms.config, name).mconsole, ["stop"]);
    } catch (error) {
      this.log(`vm ${name}: pause for disk space failed: ${(error as Error).message}`);
      return;
    }
    const record: PauseRecord = {
      since: new Date().toISOString(),
      reason: `paused: the host's free disk space (${formatSize(f.freeBytes)}) fell below its ${formatSize(f.reserveBytes)} reserve while this VM wrote ${formatSize(grewBytes)}; it resumes when space is freed or an admin resumes it`,
      freeBytes: f.freeBytes,
      reserveBytes: f.reserveBytes,
      grewBytes,
      pid,
    };
    this.paused.set(name, record);
    await writeFile(this.pauseFile(name), `${JSON.stringify(record)}\n`, { mode: 0o644 }).catch((error) =>
      this.log(`vm ${name}: recording the pause: ${(error as Error).message}`),
    );
    this.log(`vm ${name}: ${record.reason}`);
    await this.vms.watcher.sweepOne(name);
  }
}

/** What the VM's disks hold on the host (lstat: a member's symlink is not followed, it counts 0). */
async function allocatedBytes(paths: VmPaths): Promise<number> {
  let sum = 0;
  for (const path of [paths.cow, paths.swap, paths.storage]) {
    const info = await lstatOrNull(path).catch(() => null);
    if (info?.isFile()) sum += info.blocks * 512;
  }
  return sum;
}
