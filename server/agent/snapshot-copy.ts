/**
 * The one way snapshots copy disk files: `cp --reflink=auto --sparse=always` (holes stay holes, a
 * reflink where the filesystem has one; `fs.copyFile` fills holes: notes/bench.md B8). Both ends
 * are file descriptors the agent opened itself (`/dev/stdin` → `/dev/stdout` or a path in a
 * root-owned directory), so nothing in a member-owned directory is looked up by name by `cp`: a
 * symlink planted there is refused by the agent's own O_NOFOLLOW open, never followed.
 */
import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { baseEnv } from "./exec";
import { UnsafePathError } from "./safe-fs";

export const CP_ARGS = ["--reflink=auto", "--sparse=always"] as const;

/** Opens a disk file in a member-owned directory: no symlink, a regular file, owned by `uid`. */
export async function openDiskNoFollow(path: string, uid: number | null): Promise<FileHandle> {
  const handle = await open(
    path,
    constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
  );
  const info = await handle.stat();
  if (!info.isFile() || (uid !== null && info.uid !== uid)) {
    await handle.close();
    throw new UnsafePathError(`${path} is not a regular file of the VM's user`);
  }
  return handle;
}

/**
 * Copies `src` (an open file) to `dst`: a path the agent owns, or an open file (written through
 * `/dev/stdout`). `onProgress` gets 0..1 from the destination's allocated blocks while cp runs.
 */
export async function copySparse(
  src: FileHandle,
  dst: string | FileHandle,
  onProgress?: (fraction: number) => void,
): Promise<void> {
  const srcInfo = await src.stat();
  const total = Math.max(1, srcInfo.blocks * 512);
  const toFile = typeof dst !== "string";
  const child = spawn("cp", [...CP_ARGS, "--", "/dev/stdin", toFile ? "/dev/stdout" : dst], {
    stdio: [src.fd, toFile ? dst.fd : "ignore", "pipe"],
    shell: false,
    env: baseEnv() as NodeJS.ProcessEnv,
    cwd: "/",
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    stderr = (stderr + text).slice(-500);
  });
  const timer = onProgress
    ? setInterval(async () => {
        const info = await (toFile ? dst.stat() : stat(dst)).catch(() => null);
        if (info) onProgress(Math.min(1, (info.blocks * 512) / total));
      }, 250)
    : null;
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`cp exited with ${code}: ${stderr.trim()}`);
  } finally {
    if (timer) clearInterval(timer);
  }
  onProgress?.(1);
}

/** fsync a file or directory by path (the agent's own paths). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
