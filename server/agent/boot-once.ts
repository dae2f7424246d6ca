/**
 * One-shot boot options (issue 14 point 1): the member picks a rescue boot for the VM's next
 * start — a single-user shell, no storage disk, or the storage disk read-only — and it reverts on
 * its own: unused, it lapses after an hour; used, it is that boot's only. UML re-execs itself with
 * the same command line on every reboot (uml.md §2), so a reboot of a one-shot boot is caught
 * (a second kernel banner in the same boot's log, or the panel's hard reset) and the VM is
 * started again normally.
 *
 *   <vm dir>/boot-once.json          the pending option (root's, 0600; the agent's own directory)
 *   <vm dir>/boot-once-active.json   the running boot's option: { mode, pid, bootN }
 */
import { rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BootOnceMode, BootOncePending } from "../protocol/agent";
import { openRegularNoFollow } from "./safe-fs";
import type { VmPaths } from "./vm-paths";

export const BOOT_ONCE_TTL_MS = 60 * 60 * 1000;

export const BOOT_ONCE_TEXT: Record<BootOnceMode, string> = {
  single: "a single-user shell",
  "no-storage": "without the storage disk",
  "storage-ro": "with the storage disk read-only",
};

export interface BootOnceActive {
  mode: BootOnceMode;
  pid: number;
  bootN: number;
}

const pendingPath = (paths: Pick<VmPaths, "dir">) => join(paths.dir, "boot-once.json");
const activePath = (paths: Pick<VmPaths, "dir">) => join(paths.dir, "boot-once-active.json");

/** The command line of a one-shot boot: the usual one with the option applied. */
export function bootOnceArgv(argv: readonly string[], mode: BootOnceMode | null): string[] {
  if (mode === null) return [...argv];
  if (mode === "single") return argv.map((a) => (a.startsWith("init=") ? "init=/bin/sh" : a));
  if (mode === "no-storage") return argv.filter((a) => !a.startsWith("ubd2="));
  return argv.map((a) => (a.startsWith("ubd2=") ? `ubd2r=${a.slice("ubd2=".length)}` : a));
}

async function readJson<T>(path: string): Promise<T | null> {
  // The VM's directory is the agent's (root 0755): no member writes here; still no symlinks.
  const handle = await openRegularNoFollow(path).catch(() => null);
  if (!handle) return null;
  try {
    return JSON.parse((await handle.readFile("utf8")).slice(0, 4096)) as T;
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The pending option, unless it has lapsed (then it is removed). */
export async function readPending(
  paths: Pick<VmPaths, "dir">,
  now = Date.now(),
): Promise<BootOncePending | null> {
  const pending = await readJson<BootOncePending>(pendingPath(paths));
  if (!pending) return null;
  if (Date.parse(pending.expiresAt) > now) return pending;
  await rm(pendingPath(paths), { force: true });
  return null;
}

export async function setPending(
  paths: Pick<VmPaths, "dir">,
  mode: BootOnceMode | null,
  by: string,
  now = Date.now(),
): Promise<BootOncePending | null> {
  if (mode === null) {
    await rm(pendingPath(paths), { force: true });
    return null;
  }
  const pending: BootOncePending = {
    mode,
    setAt: new Date(now).toISOString(),
    expiresAt: new Date(now + BOOT_ONCE_TTL_MS).toISOString(),
    by,
  };
  await writeJson(pendingPath(paths), pending);
  return pending;
}

/** At a start: the pending option, removed (it is this boot's now), or null. */
export async function consumePending(paths: Pick<VmPaths, "dir">): Promise<BootOncePending | null> {
  const pending = await readPending(paths);
  await rm(pendingPath(paths), { force: true });
  return pending;
}

/** A start that failed before the VM ran gives its option back (unchanged, with its lapse time). */
export async function restorePending(paths: Pick<VmPaths, "dir">, pending: BootOncePending): Promise<void> {
  await writeJson(pendingPath(paths), pending);
}

export async function readActive(paths: Pick<VmPaths, "dir">): Promise<BootOnceActive | null> {
  return readJson<BootOnceActive>(activePath(paths));
}

export async function writeActive(paths: Pick<VmPaths, "dir">, active: BootOnceActive | null): Promise<void> {
  if (active === null) await rm(activePath(paths), { force: true });
  else await writeJson(activePath(paths), active);
}

/**
 * How many kernel banners a boot log holds (its first 4 MiB): a second is a reboot of that boot.
 * The console directory is the VM user's: read through a descriptor that followed no symlink.
 */
export async function bannersIn(file: string): Promise<number> {
  const handle = await openRegularNoFollow(file).catch(() => null);
  if (!handle) return 0;
  try {
    const buffer = Buffer.alloc(Math.min((await handle.stat()).size, 4 * 1024 * 1024));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString("latin1").split("Linux version ").length - 1;
  } finally {
    await handle.close();
  }
}
