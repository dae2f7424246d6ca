/**
 * One cgroup per VM (issue 11 point 2): a cap on processes (every guest process is a host
 * process in UML's SKAS mode), a memory limit, and a block-I/O weight the admin sets, by default
 * below the agent's and the web tier's. The sandbox's first process moves itself in before UML
 * starts (sandbox.ts), so the tmux server, UML and its helpers are all counted.
 *
 * No CPU controller: a VM in a cgroup of the cpu controller (v1 `cpu`, any cpu.shares, 512 or
 * 1024) stalled the whole host under a console flood — a host process's 10 ms timer late by up
 * to 11 s, Ctrl-C seconds behind — while the same VM with pids, memory and blkio but not cpu stayed
 * within 60 ms (README "Confinement", measured with confine/testing/flood-bisect.ts). The VM's CPU
 * weight is its nice value instead (the seed's "be nice", sandbox.ts and vm-confinement.ts).
 *
 * cgroup v1 (this project's hosts: /sys/fs/cgroup/{pids,memory,blkio}, no systemd) and the
 * unified v2 hierarchy are both handled; the groups are `<controller root>/<parent>/<vm>`. The
 * block I/O weight (blkio.bfq.weight / io.bfq.weight, or the older blkio.weight / io.weight) weighs
 * a group against its siblings, so the parent `zaphod` group — every VM together — gets the VM
 * weight too (50 against the 100 of the agent and the web tier, which stay in the root group); it
 * only acts under the BFQ I/O scheduler; where no weight file exists the limits report it as not
 * applied rather than failing.
 */
import { constants } from "node:fs";
import { access, mkdir, open, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface VmLimits {
  /** Host processes (guest processes + UML's helpers + tmux). */
  pidsMax: number;
  memoryBytes: number;
  /** BFQ scale (1..1000, kernel default 100). */
  ioWeight: number;
}

/** Default: below the 100 that the agent and the web tier run with. */
export const DEFAULT_IO_WEIGHT = 50;
export const DEFAULT_PIDS_MAX = 512;
/** UML's own memory beyond guest RAM (its process, page tables, helpers, stubs, tmux), measured ~40 MiB idle. */
export const MEMORY_OVERHEAD_BYTES = 96 * 1024 * 1024;
/** The guest-RAM tmpfs holds the RAM file plus this much (issue 11 point 3). */
export const RAM_TMPFS_SLACK_BYTES = 16 * 1024 * 1024;

/** The limits for a VM of `memoryMiB`: guest RAM (its tmpfs) + the tmpfs slack + UML's overhead. */
export function defaultLimits(memoryMiB: number, overrides: Partial<VmLimits> = {}): VmLimits {
  return {
    pidsMax: DEFAULT_PIDS_MAX,
    memoryBytes: memoryMiB * 1024 * 1024 + RAM_TMPFS_SLACK_BYTES + MEMORY_OVERHEAD_BYTES,
    ioWeight: DEFAULT_IO_WEIGHT,
    ...overrides,
  };
}

export class CgroupError extends Error {
  override name = "CgroupError";
}

export type CgroupLayout =
  | {
      version: 1;
      root: string;
      controllers: { pids: string; memory: string; blkio: string | null };
    }
  | { version: 2; root: string };

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/** Finds the cgroup hierarchy under `root`, or says clearly why VMs cannot be confined here. */
export async function detectCgroups(root = "/sys/fs/cgroup"): Promise<CgroupLayout> {
  if (await exists(join(root, "cgroup.controllers"))) {
    const available = (await readFile(join(root, "cgroup.controllers"), "utf8")).trim().split(/\s+/);
    const missing = ["pids", "memory", "io"].filter((c) => !available.includes(c));
    if (missing.length)
      throw new CgroupError(`cgroup v2 at ${root} lacks the ${missing.join(", ")} controller(s)`);
    return { version: 2, root };
  }
  const dir = async (name: string) =>
    (await exists(join(root, name, "cgroup.procs"))) ? join(root, name) : null;
  const [pids, memory, blkio] = await Promise.all([dir("pids"), dir("memory"), dir("blkio")]);
  if (pids && memory) return { version: 1, root, controllers: { pids, memory, blkio } };
  throw new CgroupError(
    `no usable cgroups at ${root}: neither cgroup v2 (cgroup.controllers) nor the v1 pids and memory controllers are mounted`,
  );
}

export interface VmCgroup {
  layout: CgroupLayout;
  /** One directory per v1 controller, or the one v2 directory. */
  dirs: string[];
  /** The cgroup.procs files a process writes itself into to join. */
  procs: string[];
  /** What could not be applied (e.g. no I/O weight file on this kernel). */
  notApplied: string[];
}

function checkName(segment: string): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(segment)) throw new CgroupError(`bad cgroup name ${segment}`);
}

function groupDirs(layout: CgroupLayout, parent: string, name?: string): Record<string, string | null> {
  const rel = name ? join(parent, name) : parent;
  if (layout.version === 2) return { unified: join(layout.root, rel) };
  const c = layout.controllers;
  return {
    pids: join(c.pids, rel),
    memory: join(c.memory, rel),
    blkio: c.blkio ? join(c.blkio, rel) : null,
  };
}

/** Writes `value` into the first of `files` that exists; returns the one written or null. */
async function writeFirst(dir: string, files: string[], value: string): Promise<string | null> {
  for (const file of files) {
    const path = join(dir, file);
    if (await exists(path)) {
      await writeFile(path, value);
      return file;
    }
  }
  return null;
}

function checkLimits(limits: VmLimits): void {
  const ok = (n: number, min: number, max: number) => Number.isSafeInteger(n) && n >= min && n <= max;
  if (!ok(limits.pidsMax, 16, 1_000_000)) throw new CgroupError(`pids limit ${limits.pidsMax} out of range`);
  if (!ok(limits.memoryBytes, 32 * 1024 * 1024, 2 ** 50))
    throw new CgroupError(`memory limit ${limits.memoryBytes} out of range`);
  if (!ok(limits.ioWeight, 1, 1000)) throw new CgroupError(`I/O weight ${limits.ioWeight} out of range`);
}

async function applyIoWeight(
  layout: CgroupLayout,
  dirs: Record<string, string | null>,
  ioWeight: number,
  notApplied: string[],
): Promise<void> {
  if (layout.version === 1) {
    if (!dirs.blkio) notApplied.push("block I/O weight (no blkio controller)");
    else if (!(await writeFirst(dirs.blkio, ["blkio.bfq.weight", "blkio.weight"], String(ioWeight))))
      notApplied.push("block I/O weight (no blkio.bfq.weight or blkio.weight)");
  } else {
    const dir = dirs.unified as string;
    if (!(await writeFirst(dir, ["io.bfq.weight", "io.weight"], `default ${Math.max(1, ioWeight)}`)))
      notApplied.push("block I/O weight (no io.bfq.weight or io.weight)");
  }
}

async function enableV2Controllers(dir: string): Promise<void> {
  try {
    await writeFile(join(dir, "cgroup.subtree_control"), "+pids +memory +io");
  } catch (error) {
    throw new CgroupError(
      `cgroup v2: cannot enable pids, memory and io below ${dir} (${(error as Error).message}); ` +
        "on a systemd host give the agent a delegated group (Delegate=yes) and point the agent at it",
    );
  }
}

/**
 * Creates (or updates) the VM's cgroup with `limits` under `parent` (e.g. `zaphod`). Idempotent: a
 * restarted agent calls it again for a running VM and only the limits are rewritten.
 */
export async function ensureVmCgroup(
  layout: CgroupLayout,
  parent: string,
  name: string,
  limits: VmLimits,
  /** The parent's I/O weight (every VM together against the agent and the web tier). */
  parentIoWeight = DEFAULT_IO_WEIGHT,
): Promise<VmCgroup> {
  checkName(parent);
  checkName(name);
  checkLimits(limits);
  const notApplied: string[] = [];
  const parentDirs = groupDirs(layout, parent);
  const dirs = groupDirs(layout, parent, name);
  for (const dir of [...Object.values(parentDirs), ...Object.values(dirs)])
    if (dir) await mkdir(dir, { recursive: true, mode: 0o755 });
  if (layout.version === 2) {
    await enableV2Controllers(layout.root);
    await enableV2Controllers(parentDirs.unified as string);
  }
  checkLimits({ ...limits, ioWeight: parentIoWeight });
  await applyIoWeight(layout, parentDirs, parentIoWeight, []);
  await applyIoWeight(layout, dirs, limits.ioWeight, notApplied);
  if (layout.version === 1) {
    await writeFile(join(dirs.pids as string, "pids.max"), String(limits.pidsMax));
    await writeFile(join(dirs.memory as string, "memory.limit_in_bytes"), String(limits.memoryBytes));
  } else {
    const dir = dirs.unified as string;
    await writeFile(join(dir, "pids.max"), String(limits.pidsMax));
    await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
    await writeFile(join(dir, "memory.swap.max"), "0").catch(() => notApplied.push("memory.swap.max"));
  }
  const list = Object.values(dirs).filter((d): d is string => Boolean(d));
  return { layout, dirs: list, procs: list.map((d) => join(d, "cgroup.procs")), notApplied };
}

/** The VM's group by name, without creating or changing anything (for kill, usage and removal). */
export function vmCgroupAt(layout: CgroupLayout, parent: string, name: string): VmCgroup {
  checkName(parent);
  checkName(name);
  const list = Object.values(groupDirs(layout, parent, name)).filter((d): d is string => Boolean(d));
  return { layout, dirs: list, procs: list.map((d) => join(d, "cgroup.procs")), notApplied: [] };
}

export interface CgroupUsage {
  memoryBytes: number;
  memoryPeakBytes: number | null;
  memoryLimitBytes: number | null;
  pids: number;
  pidsMax: number | null;
}

async function readNumber(path: string): Promise<number | null> {
  const text = await readFile(path, "utf8").catch(() => null);
  const n = text === null ? Number.NaN : Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

/** What the VM uses now (for the host page): memory includes its RAM tmpfs. */
export async function readVmCgroupUsage(group: VmCgroup): Promise<CgroupUsage> {
  if (group.layout.version === 1) {
    const [pidsDir, memoryDir] = group.dirs;
    return {
      memoryBytes: (await readNumber(join(memoryDir as string, "memory.usage_in_bytes"))) ?? 0,
      memoryPeakBytes: await readNumber(join(memoryDir as string, "memory.max_usage_in_bytes")),
      memoryLimitBytes: await readNumber(join(memoryDir as string, "memory.limit_in_bytes")),
      pids: (await readNumber(join(pidsDir as string, "pids.current"))) ?? 0,
      pidsMax: await readNumber(join(pidsDir as string, "pids.max")),
    };
  }
  const dir = group.dirs[0] as string;
  return {
    memoryBytes: (await readNumber(join(dir, "memory.current"))) ?? 0,
    memoryPeakBytes: await readNumber(join(dir, "memory.peak")),
    memoryLimitBytes: await readNumber(join(dir, "memory.max")),
    pids: (await readNumber(join(dir, "pids.current"))) ?? 0,
    pidsMax: await readNumber(join(dir, "pids.max")),
  };
}

/** The pids in the group (v1: the pids controller's view, which holds every process). */
export async function cgroupPids(group: VmCgroup): Promise<number[]> {
  const text = await readFile(group.procs[0] as string, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n > 0);
}

/**
 * Ends every process of the VM: v2 `cgroup.kill`; v1 SIGKILL to each pid until none is left (a
 * process forking meanwhile is caught by the next round; pids.max bounds how many there can be).
 */
export async function killVmCgroup(group: VmCgroup, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  if (group.layout.version === 2)
    await writeFile(join(group.dirs[0] as string, "cgroup.kill"), "1").catch(() => {});
  for (;;) {
    const pids = await cgroupPids(group);
    if (pids.length === 0) return true;
    if (Date.now() > deadline) return false;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Removes the VM's (empty) cgroup directories; a v1 controller dir that is already gone is fine. */
export async function removeVmCgroup(group: VmCgroup): Promise<void> {
  for (const dir of group.dirs) {
    try {
      await rmdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}

/** True when `pid` is in the VM's group (every controller, v1). */
export async function isInVmCgroup(group: VmCgroup, pid: number): Promise<boolean> {
  for (const procs of group.procs) {
    const handle = await open(procs, "r").catch(() => null);
    if (!handle) return false;
    const text = await handle.readFile("utf8").finally(() => handle.close());
    if (!text.split("\n").includes(String(pid))) return false;
  }
  return true;
}

/** The VM groups under `parent` (for a sweep after an agent restart). */
export async function listVmCgroups(layout: CgroupLayout, parent: string): Promise<string[]> {
  checkName(parent);
  const base = layout.version === 2 ? join(layout.root, parent) : join(layout.controllers.pids, parent);
  const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}
