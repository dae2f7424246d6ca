/**
 * Snapshots of a VM's disks: the root COW and, by choice, the storage file (never swap).
 *
 *   <data>/snapshots/<vm>/                 root 0700
 *     <id>/ root.cow storage.img manifest.json     a complete snapshot (root 0600 files)
 *     .tmp-<id>/                           being written; never listed, removed on recovery
 *     .in-progress.json                    the persisted marker (Proxmox's `snapstate`)
 *     .interrupted.json                    tasks a restarted agent found interrupted (task.get)
 *
 * Live and crash-consistent (uml.md §3): `sysrq s`, mconsole `stop`, sparse copy, `go`, the pause
 * measured and written to the task log; a stopped VM is just copied. Files are copied into the
 * temp dir, fsynced, the manifest written, then the dir renamed: an interrupted snapshot is never
 * listed or restorable. The marker lets a restarted agent undo what a kill -9 left at any point:
 * `go` for a VM left paused, temp dirs removed, the task reported `interrupted`.
 *
 * Restore: the clean shut down, a safety snapshot of that state, the files put back (each copied
 * to a temp name beside it, fsynced, renamed), the VM started again when it was running.
 */
import { constants } from "node:fs";
import { open, readdir, readFile, rename, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type {
  ParsedArgsOf,
  SnapshotFile,
  SnapshotInfo,
  SnapshotUsage,
  TaskInfo,
  TaskOp,
} from "../protocol/agent";
import { isSlug } from "../protocol/names";
import { AgentFailure } from "./errors";
import { imagePath } from "./images/publish-image";
import { mconsole } from "./mconsole";
import { removeTree } from "./remove-tree";
import { ensureDir, lstatOrNull, readSmallFileNoFollow } from "./safe-fs";
import { copySparse, fsyncPath, openDiskNoFollow } from "./snapshot-copy";
import { testPause } from "./snapshot-test-hook";
import type { Runtime, TaskHandle, VmManager } from "./vm-manager";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INTERRUPTED_KEPT = 100;

interface Marker {
  op: "snapshot.create" | "snapshot.restore";
  taskId: string;
  /** The snapshot being written (for a restore: its safety snapshot). */
  snapshotId: string;
  /** snapshot.restore: the snapshot being put back. */
  restoreFrom: string | null;
  /** `stopping`: mconsole stop may have been sent and `go` not yet. */
  phase: "prepare" | "stopping" | "copied" | "renamed" | "shutdown" | "restoring";
  startedAt: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export class SnapshotManager {
  readonly root: string;

  constructor(
    private vms: VmManager,
    private log: (line: string) => void = (line) => console.error(line),
  ) {
    this.root = join(vms.config.dataDir, "snapshots");
    // vm.destroy keeps (moves aside) or discards the VM's snapshots through this store.
    vms.snapshotStore = {
      discard: (vm) => removeTree(this.vmDir(vm), null),
      keep: (vm) => this.keepAside(vm),
    };
  }

  /**
   * A destroyed VM's snapshots, kept: moved to `<data>/kept-snapshots/<vm>-<time>/` (root 0700),
   * out of reach of a later VM of the same name; the host admin takes them from there.
   */
  private async keepAside(vm: string): Promise<string | null> {
    const dir = this.vmDir(vm);
    if (!(await lstatOrNull(dir))) return null;
    const keptRoot = join(this.vms.config.dataDir, "kept-snapshots");
    await ensureDir(keptRoot, null, 0o700);
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
    const target = join(keptRoot, `${vm}-${stamp}`);
    await rename(dir, target);
    return target;
  }

  private vmDir(vm: string): string {
    if (!isSlug(vm)) throw new Error(`refusing VM name ${JSON.stringify(vm)}`);
    return join(this.root, vm);
  }

  private snapDir(vm: string, id: string): string {
    if (!UUID.test(id)) throw new Error("refusing snapshot id");
    return join(this.vmDir(vm), id);
  }

  private markerPath(vm: string): string {
    return join(this.vmDir(vm), ".in-progress.json");
  }

  private async writeMarker(vm: string, marker: Marker): Promise<void> {
    const path = this.markerPath(vm);
    await writeFile(`${path}.tmp`, JSON.stringify(marker), { mode: 0o600 });
    await fsyncPath(`${path}.tmp`);
    await rename(`${path}.tmp`, path);
    await fsyncPath(this.vmDir(vm));
  }

  private async clearMarker(vm: string): Promise<void> {
    await removeTree(this.markerPath(vm), null).catch(() => undefined);
  }

  private async ensureDirs(vm: string): Promise<void> {
    await ensureDir(this.root, null, 0o700);
    await ensureDir(this.vmDir(vm), null, 0o700);
  }

  // ── reading ───────────────────────────────────────────────────────────────────────────────

  private async readManifest(vm: string, id: string): Promise<SnapshotInfo | null> {
    try {
      const info = JSON.parse(await readSmallFileNoFollow(join(this.snapDir(vm, id), "manifest.json")));
      return info?.id === id && info?.vm === vm ? (info as SnapshotInfo) : null;
    } catch {
      return null;
    }
  }

  /** Complete snapshots of a VM, oldest first (temp dirs and ids without a manifest are not). */
  async list(vm: string): Promise<SnapshotInfo[]> {
    await this.vms.load(vm); // not-found for an unknown VM
    const entries = await readdir(this.vmDir(vm)).catch(() => [] as string[]);
    const out: SnapshotInfo[] = [];
    for (const entry of entries) {
      if (!UUID.test(entry)) continue;
      const info = await this.readManifest(vm, entry);
      if (info) out.push(info);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async usage(name?: string): Promise<SnapshotUsage> {
    const names = name ? [name] : await this.vms.listNames();
    const vms: SnapshotUsage["vms"] = [];
    for (const vm of names) {
      const list = await this.list(vm);
      vms.push({
        vm,
        count: list.length,
        allocatedBytes: list.reduce((sum, s) => sum + s.allocatedBytes, 0),
        apparentBytes: list.reduce((sum, s) => sum + s.apparentBytes, 0),
      });
    }
    await ensureDir(this.root, null, 0o700);
    const fs = await statfs(this.root);
    return {
      vms,
      allocatedBytes: vms.reduce((sum, v) => sum + v.allocatedBytes, 0),
      freeBytes: fs.bavail * fs.bsize,
    };
  }

  // ── create ────────────────────────────────────────────────────────────────────────────────

  async create(taskId: string, args: ParsedArgsOf<"snapshot.create">): Promise<TaskInfo> {
    return this.vms.tasks.task(
      taskId,
      "snapshot.create",
      args.name,
      async () => {
        const runtime = await this.vms.load(args.name);
        const unlock = this.vms.tasks.lock(args.name, "snapshot.create");
        try {
          await this.assertIdFree(args.name, args.id);
          await this.vms.space.assertRoom(
            await this.copyEstimate(runtime, args.includeStorage),
            "the snapshot (the disks' allocated size)",
          );
        } catch (error) {
          unlock();
          throw error;
        }
        return { runtime, unlock };
      },
      async ({ runtime, unlock }, step, handle) => {
        try {
          await this.ensureDirs(args.name);
          const marker: Marker = {
            op: "snapshot.create",
            taskId,
            snapshotId: args.id,
            restoreFrom: null,
            phase: "prepare",
            startedAt: new Date().toISOString(),
          };
          await this.writeMarker(args.name, marker);
          let info: SnapshotInfo;
          try {
            info = await this.take(runtime, args.id, args.includeStorage, "manual", marker, step, handle);
          } catch (error) {
            // take() resumed the VM and removed its temp dir: nothing is left for a restart to undo
            await this.clearMarker(args.name);
            throw error;
          }
          handle.setSnapshot(info);
          await this.clearMarker(args.name);
          return null;
        } finally {
          unlock();
        }
      },
    );
  }

  /** What a copy of the VM's disks takes on the host: their allocated size (copies stay sparse). */
  private async copyEstimate(runtime: Runtime, includeStorage: boolean): Promise<number> {
    const disks = await this.vms.info.diskUse(runtime);
    return disks
      .filter((d) => d.disk === "root" || (includeStorage && d.disk === "storage"))
      .reduce((n, d) => n + d.allocatedBytes, 0);
  }

  private async assertIdFree(vm: string, id: string): Promise<void> {
    if (await lstatOrNull(this.snapDir(vm, id)))
      throw new AgentFailure("conflict", "a snapshot with this id exists");
  }

  /**
   * Writes one snapshot (the caller holds the VM's lock and has written the marker). Live when the
   * VM runs: sync, stop, copy, go; the pause is measured from `stop` to `go`.
   */
  private async take(
    runtime: Runtime,
    id: string,
    includeStorage: boolean,
    kind: SnapshotInfo["kind"],
    marker: Marker,
    step: (text: string) => void,
    handle: TaskHandle,
  ): Promise<SnapshotInfo> {
    const { config, paths, user } = runtime;
    const vm = config.name;
    const cfg = this.vms.config;
    const tmp = join(this.vmDir(vm), `.tmp-${id}`);
    const final = this.snapDir(vm, id);
    const image = await lstatOrNull(imagePath(cfg.imagesDir, config.image));
    if (!image?.isFile()) throw new AgentFailure("invalid-state", `the image ${config.image} is missing`);
    const uid = cfg.privileged ? user.uid : null;
    const disks: Array<{ disk: SnapshotFile["disk"]; src: string; file: string }> = [
      { disk: "root", src: paths.cow, file: "root.cow" },
    ];
    if (includeStorage) disks.push({ disk: "storage", src: paths.storage, file: "storage.img" });

    await removeTree(tmp, null);
    await ensureDir(tmp, null, 0o700);
    let stopped = false;
    let pauseMs: number | null = null;
    try {
      // Opened before the pause (no symlink, the VM user's regular files): the pause is only the copy.
      const sources = await Promise.all(disks.map((d) => openDiskNoFollow(d.src, uid)));
      try {
        const total = (await Promise.all(sources.map((s) => s.stat()))).reduce(
          (n, s) => n + s.blocks * 512,
          0,
        );
        await testPause(cfg, "before-stop");
        const main = await this.vms.mainProcess(runtime);
        if (main) {
          step("sync");
          await mconsole(paths.mconsole, ["sysrq", "s"]).catch(() => undefined);
          // Emergency sync is kernel work that runs after the reply: give it a moment before `stop`.
          await sleep(300);
          await this.writeMarker(vm, { ...marker, phase: "stopping" });
          step("pausing the guest");
          const t0 = performance.now();
          stopped = true;
          await mconsole(paths.mconsole, ["stop"]);
          await testPause(cfg, "after-stop");
          step("copying (guest paused)");
          await this.copyAll(sources, disks, tmp, total, handle);
          await testPause(cfg, "after-copy");
          // A VM the disk-space check holds paused stays paused (disk-space.ts resumes it).
          if (!this.vms.space.isPaused(vm)) await mconsole(paths.mconsole, ["go"]);
          stopped = false;
          pauseMs = Math.round(performance.now() - t0);
          handle.log(
            `guest paused ${(pauseMs / 1000).toFixed(2)} s (stop → copy ${mb(total)} MB allocated → go)`,
          );
        } else {
          step("copying (VM stopped)");
          await this.copyAll(sources, disks, tmp, total, handle);
          handle.log(`VM stopped: copied ${mb(total)} MB allocated without a pause`);
        }
      } finally {
        for (const s of sources) await s.close().catch(() => undefined);
      }
      await this.writeMarker(vm, { ...marker, phase: "copied" });
      step("writing to disk");
      const files: SnapshotFile[] = [];
      for (const d of disks) {
        const path = join(tmp, d.file);
        await fsyncPath(path);
        const info = await lstatOrNull(path);
        files.push({
          disk: d.disk,
          apparentBytes: info?.size ?? 0,
          allocatedBytes: (info?.blocks ?? 0) * 512,
        });
      }
      const manifest: SnapshotInfo = {
        id,
        vm,
        createdAt: new Date().toISOString(),
        kind,
        includesStorage: includeStorage,
        live: pauseMs !== null,
        pauseMs,
        image: { name: config.image, mtimeMs: image.mtimeMs, sizeBytes: image.size },
        files,
        apparentBytes: files.reduce((n, f) => n + f.apparentBytes, 0),
        allocatedBytes: files.reduce((n, f) => n + f.allocatedBytes, 0),
      };
      await writeFile(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
      await fsyncPath(join(tmp, "manifest.json"));
      await fsyncPath(tmp);
      await testPause(cfg, "before-rename");
      await rename(tmp, final);
      await fsyncPath(this.vmDir(vm));
      await this.writeMarker(vm, { ...marker, phase: "renamed" });
      await testPause(cfg, "after-rename");
      handle.log(
        `snapshot ${id} ready: ${mb(manifest.allocatedBytes)} MB on disk (${mb(manifest.apparentBytes)} MB apparent)`,
      );
      return manifest;
    } catch (error) {
      if (stopped && !this.vms.space.isPaused(vm))
        await mconsole(paths.mconsole, ["go"]).catch(() => undefined);
      await removeTree(tmp, null).catch(() => undefined);
      throw error;
    }
  }

  private async copyAll(
    sources: Awaited<ReturnType<typeof openDiskNoFollow>>[],
    disks: Array<{ file: string }>,
    dir: string,
    total: number,
    handle: TaskHandle,
  ): Promise<void> {
    let done = 0;
    for (const [i, src] of sources.entries()) {
      const size = (await src.stat()).blocks * 512;
      await copySparse(src, join(dir, disks[i]?.file as string), (f) =>
        handle.progress(((done + f * size) / Math.max(1, total)) * 100),
      );
      done += size;
    }
  }

  // ── restore ───────────────────────────────────────────────────────────────────────────────

  async restore(taskId: string, args: ParsedArgsOf<"snapshot.restore">): Promise<TaskInfo> {
    if (args.confirm !== args.id)
      throw new AgentFailure("invalid-request", "confirm must repeat the snapshot id");
    return this.vms.tasks.task(
      taskId,
      "snapshot.restore",
      args.name,
      async () => {
        const runtime = await this.vms.load(args.name);
        const unlock = this.vms.tasks.lock(args.name, "snapshot.restore");
        try {
          const snapshot = await this.readManifest(args.name, args.id);
          if (!snapshot) throw new AgentFailure("not-found", "no such snapshot");
          const image = await lstatOrNull(imagePath(this.vms.config.imagesDir, runtime.config.image));
          // The COW header pins the pristine's path and mtime in whole seconds (uml.md §3): a COW
          // made over another base would not boot (or boot over the wrong data). The same image
          // published on another host keeps its second, not its milliseconds (a moved snapshot).
          if (
            snapshot.image.name !== runtime.config.image ||
            !image?.isFile() ||
            image.size !== snapshot.image.sizeBytes ||
            Math.floor(image.mtimeMs / 1000) !== Math.floor(snapshot.image.mtimeMs / 1000)
          ) {
            throw new AgentFailure("invalid-state", "the snapshot was taken over another base image");
          }
          await this.assertIdFree(args.name, args.safetyId);
          await this.vms.space.assertRoom(
            (await this.copyEstimate(runtime, snapshot.includesStorage)) + snapshot.allocatedBytes,
            "the restore (a safety snapshot and the snapshot's copies)",
          );
          return { runtime, unlock, snapshot };
        } catch (error) {
          unlock();
          throw error;
        }
      },
      async ({ runtime, unlock, snapshot }, step, handle) => {
        let bootN: number | null = null;
        const vm = args.name;
        try {
          await this.ensureDirs(vm);
          const marker: Marker = {
            op: "snapshot.restore",
            taskId,
            snapshotId: args.safetyId,
            restoreFrom: args.id,
            phase: "prepare",
            startedAt: new Date().toISOString(),
          };
          await this.writeMarker(vm, marker);
          const main = await this.vms.mainProcess(runtime);
          if (main) {
            await this.writeMarker(vm, { ...marker, phase: "shutdown" });
            await this.vms.lifecycle.shutdownHeld(runtime, main, step);
            handle.log("VM shut down cleanly");
          }
          step("safety snapshot");
          const safety = await this.take(
            runtime,
            args.safetyId,
            snapshot.includesStorage,
            "safety",
            marker,
            step,
            handle,
          );
          handle.setSnapshot(safety);
          handle.log(`safety snapshot ${safety.id} of the state before the restore`);
          await this.writeMarker(vm, { ...marker, phase: "restoring" });
          await testPause(this.vms.config, "restore-before-copy");
          step("putting the files back");
          await this.putBack(runtime, snapshot, handle);
          handle.log(`restored snapshot ${snapshot.id} from ${snapshot.createdAt}`);
          await this.clearMarker(vm);
          if (main) bootN = await this.vms.lifecycle.startHeld(runtime, step, () => undefined, "restore");
        } finally {
          unlock();
        }
        if (bootN === null) return this.vms.status(vm, { guest: false });
        step("booting");
        return this.vms.lifecycle.waitForStage(runtime, bootN);
      },
    );
  }

  /** Each file: copied (sparse) to a temp name in the disk dir, owned by the VM user, fsynced, renamed. */
  private async putBack(runtime: Runtime, snapshot: SnapshotInfo, handle: TaskHandle): Promise<void> {
    const { paths, user } = runtime;
    const total = snapshot.allocatedBytes;
    let done = 0;
    for (const f of snapshot.files) {
      const target = f.disk === "root" ? paths.cow : paths.storage;
      const file = f.disk === "root" ? "root.cow" : "storage.img";
      const tmp = join(paths.diskDir, `.restore-${file}`);
      await removeTree(tmp, user);
      // O_EXCL|O_NOFOLLOW: a name the VM user planted (symlink or not) makes this fail, never follow.
      const out = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        await out.chown(user.uid, user.gid);
        const src = await openDiskNoFollow(join(this.snapDir(snapshot.vm, snapshot.id), file), null);
        try {
          await copySparse(src, out, (x) =>
            handle.progress(((done + x * f.allocatedBytes) / Math.max(1, total)) * 100),
          );
        } finally {
          await src.close();
        }
        await out.sync();
      } finally {
        await out.close();
      }
      done += f.allocatedBytes;
      await rename(tmp, target);
    }
    await fsyncPath(paths.diskDir).catch(() => undefined);
  }

  // ── delete ────────────────────────────────────────────────────────────────────────────────

  async delete(args: ParsedArgsOf<"snapshot.delete">): Promise<{ deleted: SnapshotInfo }> {
    await this.vms.load(args.name);
    const unlock = this.vms.tasks.lock(args.name, "snapshot.delete");
    try {
      const info = await this.readManifest(args.name, args.id);
      if (!info) throw new AgentFailure("not-found", "no such snapshot");
      // Renamed aside first: a kill -9 during the removal leaves a temp dir, never half a snapshot.
      const aside = join(this.vmDir(args.name), `.tmp-del-${args.id}`);
      await rename(this.snapDir(args.name, args.id), aside);
      await removeTree(aside, null);
      return { deleted: info };
    } finally {
      unlock();
    }
  }

  // ── recovery after a restart ──────────────────────────────────────────────────────────────

  /**
   * At start-up, before the socket opens: for each VM with a marker, resume (`go`) a VM the killed
   * agent may have left paused, drop the partial snapshot, and report its task as interrupted.
   */
  async recover(): Promise<void> {
    const vms = await readdir(this.root).catch(() => [] as string[]);
    for (const vm of vms) {
      if (!isSlug(vm)) continue;
      try {
        await this.recoverVm(vm);
      } catch (error) {
        this.log(`snapshot recovery ${vm}: ${(error as Error).message}`);
      }
      for (const task of await this.readInterrupted(vm)) this.vms.tasks.recordTask(task);
    }
  }

  private async recoverVm(vm: string): Promise<void> {
    const dir = this.vmDir(vm);
    let marker: Marker | null = null;
    try {
      marker = JSON.parse(await readSmallFileNoFollow(this.markerPath(vm))) as Marker;
    } catch {}
    const runtime = await this.vms.runtimeOrNull(vm);
    if (marker && runtime) {
      const main = await this.vms.mainProcess(runtime);
      if (main) {
        // `go` on a running guest is a no-op; on a stopped one it is the resume the killed agent owed.
        const reply = await mconsole(runtime.paths.mconsole, ["go"]).catch((e: Error) => e.message);
        this.log(`snapshot recovery ${vm}: sent go (${String(reply).trim().slice(0, 60) || "OK"})`);
      }
      // A restore's files are put back under temp names: drop any left over.
      const names = await readdir(runtime.paths.diskDir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.startsWith(".restore-"))) {
        await removeTree(join(runtime.paths.diskDir, name), runtime.user).catch(() => undefined);
      }
    }
    if (marker) {
      // An interrupted create leaves nothing, even when it got as far as the rename; an interrupted
      // restore keeps its complete safety snapshot (the state before the disks were touched).
      if (marker.op === "snapshot.create" && UUID.test(marker.snapshotId)) {
        await removeTree(this.snapDir(vm, marker.snapshotId), null);
      }
      const safety = marker.op === "snapshot.restore" ? await this.readManifest(vm, marker.snapshotId) : null;
      const now = new Date().toISOString();
      const task: TaskInfo = {
        id: marker.taskId,
        op: marker.op as TaskOp,
        vm,
        state: "interrupted",
        step: "interrupted",
        startedAt: marker.startedAt,
        endedAt: now,
        error: { code: "internal", message: "the agent stopped while this task ran" },
        result: null,
        progress: null,
        log: [`interrupted at "${marker.phase}"; recovered by the restarted agent`],
        snapshot: safety,
      };
      await this.appendInterrupted(vm, task);
      this.vms.events.emit({ v: 1, type: "task.done", task });
      this.log(
        `snapshot recovery ${vm}: task ${marker.taskId} (${marker.op}) interrupted at ${marker.phase}`,
      );
    }
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      if (entry.startsWith(".tmp-")) await removeTree(join(dir, entry), null);
    }
    await this.clearMarker(vm);
  }

  private async readInterrupted(vm: string): Promise<TaskInfo[]> {
    try {
      const list = JSON.parse(await readFile(join(this.vmDir(vm), ".interrupted.json"), "utf8"));
      return Array.isArray(list) ? (list as TaskInfo[]) : [];
    } catch {
      return [];
    }
  }

  private async appendInterrupted(vm: string, task: TaskInfo): Promise<void> {
    const list = [...(await this.readInterrupted(vm)), task].slice(-INTERRUPTED_KEPT);
    const path = join(this.vmDir(vm), ".interrupted.json");
    await writeFile(`${path}.tmp`, JSON.stringify(list), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
}
