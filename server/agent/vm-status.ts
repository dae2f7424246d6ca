/**
 * What the agent tells about VMs, images and the host: `vm.status` / `vm.list` (state from /proc,
 * boot stage from the console tail, guest figures through mconsole, disk use), `image.list` and
 * the host's figures for `agent.health`.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type {
  BootOnceMode,
  BootStage,
  DiskUse,
  HostResources,
  ImageInfo,
  VmState,
  VmStatus,
} from "../protocol/agent";
import { currentBootLog } from "./boot-log";
import { readActive, readPending, writeActive } from "./boot-once";
import { detectBootStage, type StageReading } from "./boot-stage";
import { confinedVmUsage } from "./confine/vm-confinement";
import { isBeingDestroyed } from "./destroy-marker";
import { scanUmlProcesses, type UmlProcess } from "./host-procs";
import { readGuestFigures } from "./mconsole";
import { lstatOrNull, readSmallFileNoFollow, readTail } from "./safe-fs";
import type { Runtime, VmManager } from "./vm-manager";

export class VmStatusReader {
  /** VMs the agent stopped itself (or is stopping): not `crashed` when their process is gone. */
  readonly expectStopped = new Set<string>();
  private stages = new Map<string, { bootId: string; reading: StageReading }>();

  constructor(private vms: VmManager) {}

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
    options: { guest: boolean; all?: readonly UmlProcess[] } = { guest: true },
  ): Promise<VmStatus> {
    const runtime = await this.vms.load(name);
    const main = await this.vms.mainProcess(runtime, options.all);
    const busy = this.vms.tasks.isBusy(name);
    const { stage, detail, bootId } = await this.stageOf(runtime);
    let state: VmState;
    if (isBeingDestroyed(runtime.paths)) state = "destroying";
    else if (busy === "vm.start" && !main) state = "starting";
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
      hostUse: main ? await confinedVmUsage(name) : null,
      pausedForSpace: main ? this.vms.space.pauseOf(name) : null,
      busy,
      bootOnce: await readPending(runtime.paths),
      bootedOnce: main ? await this.bootedOnce(runtime, main.pid) : null,
    };
  }

  /** The one-shot option the running process was started with; a record of another is stale. */
  private async bootedOnce(runtime: Runtime, pid: number): Promise<BootOnceMode | null> {
    const active = await readActive(runtime.paths);
    if (!active) return null;
    if (active.pid === pid) return active.mode;
    await writeActive(runtime.paths, null);
    return null;
  }

  /** The current boot's stage; within one boot a login prompt seen once stays `up`. */
  async stageOf(runtime: Runtime): Promise<StageReading & { bootId: string | null }> {
    const current = await currentBootLog(runtime);
    if (!current) return { stage: "booting" as BootStage, detail: null, bootId: null };
    const tail = await readTail(current.file, 8192).catch(() => Buffer.alloc(0));
    const bootId = String(current.n);
    let reading = detectBootStage(tail.toString("latin1"));
    // A login prompt seen once stays "up" when later output scrolls it away.
    const seen = this.stages.get(runtime.config.name);
    if (reading.stage === "booting" && seen?.bootId === bootId) reading = seen.reading;
    else if (reading.detail !== "shell") this.stages.set(runtime.config.name, { bootId, reading });
    return { ...reading, bootId };
  }

  /** Stopped without the agent stopping it and without the guest halting itself: crashed. */
  private async diedUnexpectedly(runtime: Runtime): Promise<boolean> {
    if (this.expectStopped.has(runtime.config.name)) return false;
    const current = await currentBootLog(runtime);
    if (!current) return false;
    const tail = (await readTail(current.file, 2048).catch(() => Buffer.alloc(0))).toString("latin1");
    if (/reboot: (System halted|Power down)|System halted/.test(tail)) return false;
    return /Kernel panic|Segmentation fault|Aborted|F_SETLK failed/.test(tail);
  }

  async list(): Promise<VmStatus[]> {
    const all = await scanUmlProcesses();
    const out: VmStatus[] = [];
    for (const name of await this.vms.listNames()) {
      const status = await this.status(name, { guest: false, all }).catch(() => null);
      if (status) out.push(status);
    }
    return out;
  }

  async images(): Promise<ImageInfo[]> {
    const imagesDir = this.vms.config.imagesDir;
    const files = await readdir(imagesDir).catch(() => []);
    const out: ImageInfo[] = [];
    for (const file of files) {
      const match = /^([a-z][a-z0-9-]{1,30}[a-z0-9])\.ext4$/.exec(file);
      if (!match?.[1]) continue;
      const info = await lstatOrNull(join(imagesDir, file));
      if (!info?.isFile()) continue;
      let kind: ImageInfo["kind"] = "other";
      let createdAt = info.mtime.toISOString();
      try {
        const manifest = JSON.parse(await readSmallFileNoFollow(join(imagesDir, `${match[1]}.json`)));
        if (manifest.kind === "busybox" || manifest.kind === "debian") kind = manifest.kind;
        if (typeof manifest.createdAt === "string") createdAt = manifest.createdAt;
      } catch {}
      out.push({ name: match[1], kind, sizeBytes: info.size, allocatedBytes: info.blocks * 512, createdAt });
    }
    return out;
  }

  async hostFigures(): Promise<HostResources> {
    const meminfo = await readSmallFileNoFollow("/proc/meminfo").catch(() => "");
    const get = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(meminfo)?.[1] ?? 0);
    return {
      memTotalKiB: get("MemTotal"),
      memAvailableKiB: get("MemAvailable"),
      swapTotalKiB: get("SwapTotal"),
      swapFreeKiB: get("SwapFree"),
      ...(await this.vms.space.hostDisk()),
    };
  }
}
