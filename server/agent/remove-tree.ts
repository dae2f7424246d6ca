/**
 * THE removal routine: every file and directory the agent deletes goes through `removeTree`.
 *
 * - A directory owned by a VM's host user (`owner` given) is emptied by `find -mindepth 1
 *   -delete` run AS that user (find never follows a symlink, and whatever the member planted can
 *   only be reached with the member's own rights), then root removes the empty directory with a
 *   plain `rmdir` (which fails, rather than recursing, if the member refilled it meanwhile).
 * - A tree of the agent's own (`owner` null: the VM directory's root files, the snapshot store) is
 *   walked with `lstat`: a symlink is unlinked, never followed, and a directory that is not the
 *   agent's own (another owner, or writable by others) is refused — root never descends into a
 *   directory someone else can change under it.
 *
 * The parent of `path` must be the agent's own directory (a VM's `vms/<name>/`, the snapshot
 * store): nobody else can rename `path` or swap it for a symlink while this runs.
 */
import { lstat, readdir, rmdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./exec";
import type { HostUser } from "./host-users";
import { UnsafePathError } from "./safe-fs";

const ownUid = () => process.getuid?.() ?? 0;

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Removes `path` (a file or a directory tree); missing is fine. See the file comment for the rules. */
export async function removeTree(path: string, owner: HostUser | null): Promise<void> {
  const info = await lstatOrNull(path);
  if (!info) return;
  if (!info.isDirectory()) {
    await unlink(path);
    return;
  }
  if (owner && info.uid === owner.uid && info.uid !== ownUid()) {
    await run(["find", path, "-mindepth", "1", "-delete"], { as: owner, timeoutMs: 120_000 });
    await rmdir(path);
    return;
  }
  await removeOwnTree(path);
}

async function removeOwnTree(path: string): Promise<void> {
  const info = await lstatOrNull(path);
  if (!info) return;
  if (!info.isDirectory()) {
    await unlink(path);
    return;
  }
  if (info.uid !== ownUid() || (info.mode & 0o022) !== 0) {
    throw new UnsafePathError(`${path} is not the agent's own directory; not removed`);
  }
  for (const entry of await readdir(path)) await removeOwnTree(join(path, entry));
  await rmdir(path);
}

/**
 * A VM's directory: the member-owned subdirectories as their user first, then root's own files.
 * `user` is the VM's host user (null when it is gone: then any member-owned directory is refused).
 */
export async function removeVmDir(dir: string, memberDirs: string[], user: HostUser | null): Promise<void> {
  for (const sub of memberDirs) await removeTree(sub, user);
  await removeTree(dir, null);
}
