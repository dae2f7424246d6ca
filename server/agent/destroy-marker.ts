/**
 * The destroy marker (`vms/<name>/destroying.json`, root 0600 in the root-owned VM directory):
 * vm.destroy writes it before it touches anything and it goes with the directory at the end, so a
 * destroy cut short (agent killed, a step failing) leaves the VM in state `destroying`: every verb
 * but vm.destroy is refused, and vm.destroy run again finishes it (provision.ts). It also keeps
 * the VM's uid, so a retry after the host user was deleted still knows whose processes to end.
 */
import { lstatSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import type { VmConfig } from "../protocol/agent";
import { readSmallFileNoFollow } from "./safe-fs";
import type { VmPaths } from "./vm-paths";

export interface DestroyMarker {
  taskId: string;
  startedAt: string;
  /** Kept when any of the requests asked to keep them (a retry never deletes what one kept). */
  keepSnapshots: boolean;
  owner: string;
  hostUser: string;
  uid: number;
  gid: number;
  config: VmConfig;
}

export async function readDestroyMarker(paths: VmPaths): Promise<DestroyMarker | null> {
  try {
    return JSON.parse(await readSmallFileNoFollow(paths.destroyMarker)) as DestroyMarker;
  } catch {
    return null;
  }
}

/** Written to a temp name, fsynced, renamed, the directory fsynced: present whole or not at all. */
export async function writeDestroyMarker(paths: VmPaths, marker: DestroyMarker): Promise<void> {
  const tmp = `${paths.destroyMarker}.tmp`;
  const file = await open(tmp, "w", 0o600);
  try {
    await file.writeFile(`${JSON.stringify(marker, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, paths.destroyMarker);
  const dir = await open(paths.dir, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** For the per-VM lock (synchronous): is a destroy begun and not finished? */
export function isBeingDestroyed(paths: VmPaths): boolean {
  try {
    return lstatSync(paths.destroyMarker).isFile();
  } catch {
    return false;
  }
}
