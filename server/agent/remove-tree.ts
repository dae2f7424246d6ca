/**
 * THE removal routine: every file and directory the agent deletes goes through it.
 *
 * - A directory owned by a VM's host user is emptied by `find . -mindepth 1 -delete` run AS that
 *   user (find never follows a symlink, and whatever the member planted can only be reached with
 *   the member's own rights), started in that directory (root's chdir, in a parent only root can
 *   change), so it works after the VM's directory is closed to the member. Root then removes the
 *   empty directory with a plain `rmdir` (which fails, rather than recursing, if the member
 *   refilled it meanwhile).
 * - A tree of the agent's own (`owner` null: the VM directory's root files, the snapshot store) is
 *   walked with `lstat`: a symlink is unlinked, never followed, and a directory that is not the
 *   agent's own (another owner, or writable by others) is refused — root never descends into a
 *   directory someone else can change under it.
 * - A whole VM directory (`removeVmDir`, destroy and the create-failure cleanup) is first closed
 *   to everyone but root (0700 by descriptor), its processes ended, each member-owned directory
 *   in it emptied as its owner and removed (rounds, ending processes between them, so a process
 *   that refills it cannot block), root's files removed, and last the directory is renamed out
 *   of the VM namespace (`.gone-*`, the commit point) and removed.
 *
 * The parent of `path` must be the agent's own directory (a VM's `vms/<name>/`, the snapshot
 * store): nobody else can rename `path` or swap it for a symlink while this runs.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, readdir, rename, rmdir, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type RunAs, run } from "./exec";
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
export async function removeTree(path: string, owner: RunAs | null): Promise<void> {
  const info = await lstatOrNull(path);
  if (!info) return;
  if (!info.isDirectory()) {
    await unlink(path);
    return;
  }
  if (owner && info.uid === owner.uid && info.uid !== ownUid()) {
    await emptyAsOwner(path, owner);
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
 * `find . -mindepth 1 -delete` as the directory's owner, started in it (allowFailure: rmdir
 * judges). First `chmod -R u+rwx .` as the owner, so a directory it made unreadable (mode 000)
 * cannot keep its contents from being deleted (chmod -R changes a directory before it descends).
 */
async function emptyAsOwner(path: string, owner: RunAs) {
  const options = { as: owner, cwd: path, timeoutMs: 120_000, allowFailure: true };
  await run(["chmod", "-R", "u+rwx", "--", "."], options);
  return run(["find", ".", "-mindepth", "1", "-delete"], options);
}

/** Opens a directory of the agent's own without following a symlink; null when missing. */
async function openOwnDir(dir: string) {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null;
      throw error;
    },
  );
  if (!handle) return null;
  const info = await handle.stat();
  if (info.uid !== ownUid() || (info.mode & 0o022) !== 0) {
    await handle.close();
    throw new UnsafePathError(`${dir} is not the agent's own directory`);
  }
  return handle;
}

/**
 * Closes a VM's directory (root's own) to everyone else: mode 0700 through a descriptor opened
 * without following links. From then on no process of the VM's user can reach the tree by path;
 * only one already holding a working directory or descriptor inside can, and those are ended.
 */
export async function closeVmDir(dir: string): Promise<void> {
  const handle = await openOwnDir(dir);
  if (!handle) return;
  try {
    await handle.chmod(0o700);
  } finally {
    await handle.close();
  }
}

const GONE_PREFIX = ".gone-";
const MEMBER_DIR_ROUNDS = 6;

export interface RemoveVmDirOptions {
  /** Ends the processes that could still write into the tree; run first and between rounds. */
  endProcesses: () => Promise<unknown>;
  /** Entries removed only at the commit (the VM's config and destroy marker). */
  keepToTheEnd?: string[];
}

/**
 * A whole VM directory (destroy, create-failure cleanup); missing parts are fine, so it can be
 * run again after an interruption. See the file comment for the order.
 */
export async function removeVmDir(dir: string, options: RemoveVmDirOptions): Promise<void> {
  await emptyVmDir(dir, options);
  await commitVmDirRemoval(dir);
}

/** Everything in the VM's directory but `keepToTheEnd`: closed first, processes ended, member dirs as their owners. */
export async function emptyVmDir(dir: string, options: RemoveVmDirOptions): Promise<void> {
  if (!(await lstatOrNull(dir))) return;
  await closeVmDir(dir);
  await options.endProcesses();
  const keep = new Set(options.keepToTheEnd ?? []);
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    const info = await lstatOrNull(path);
    if (!info) continue;
    if (info.isDirectory() && info.uid !== ownUid()) {
      await removeMemberDir(path, { uid: info.uid, gid: info.gid }, options.endProcesses);
    } else if (!keep.has(entry)) await removeOwnTree(path);
  }
}

/** The commit point: one rename takes the VM (config, marker) out of `vms/`; then root's own rest goes. */
export async function commitVmDirRemoval(dir: string): Promise<void> {
  if (!(await lstatOrNull(dir))) return;
  await closeVmDir(dir);
  const gone = join(dirname(dir), `${GONE_PREFIX}${basename(dir)}-${randomBytes(4).toString("hex")}`);
  await rename(dir, gone);
  await removeOwnTree(gone);
}

/** Emptied as its owner and removed; a refill is answered by ending processes and another round. */
async function removeMemberDir(path: string, owner: RunAs, endProcesses: () => Promise<unknown>) {
  let last = "";
  for (let round = 1; round <= MEMBER_DIR_ROUNDS; round++) {
    const result = await emptyAsOwner(path, owner);
    try {
      await rmdir(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "ENOTEMPTY") throw error;
      last = result.stderr.trim().split("\n")[0] ?? "";
    }
    await endProcesses();
  }
  throw new Error(`${path} kept being refilled (${MEMBER_DIR_ROUNDS} rounds): ${last.slice(0, 200)}`);
}

/** Leftovers of a removal interrupted after its commit point (`.gone-*` in the VMs directory). */
export async function removeGoneVmDirs(vmsDir: string): Promise<void> {
  for (const entry of await readdir(vmsDir).catch(() => [] as string[])) {
    if (entry.startsWith(GONE_PREFIX)) await removeOwnTree(join(vmsDir, entry)).catch(() => undefined);
  }
}
