/**
 * File work in member-owned directories never follows a symlink: files are opened with
 * O_NOFOLLOW|O_NONBLOCK and checked to be regular files; directories are lstat-checked.
 */
import { constants } from "node:fs";
import { chmod, chown, lstat, mkdir, open } from "node:fs/promises";

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

export class UnsafePathError extends Error {
  override name = "UnsafePathError";
}

/** Opens a regular file for reading without following symlinks (a FIFO or device is refused). */
export async function openRegularNoFollow(path: string) {
  const handle = await open(path, READ_FLAGS);
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new UnsafePathError(`${path} is not a regular file`);
  }
  return handle;
}

/** Reads at most `maxBytes` from the end of a file (no symlinks followed). */
export async function readTail(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await openRegularNoFollow(path);
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, size - length);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export async function readSmallFileNoFollow(path: string, maxBytes = 64 * 1024): Promise<string> {
  const handle = await openRegularNoFollow(path);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new UnsafePathError(`${path} is larger than ${maxBytes} bytes`);
    return (await handle.readFile()).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** lstat that returns null when missing. */
export async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Makes (or checks) a real directory — not a symlink — with this owner and mode. */
export async function ensureDir(path: string, owner: { uid: number; gid: number } | null, mode: number) {
  await mkdir(path, { mode }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  const info = await lstat(path);
  if (!info.isDirectory()) throw new UnsafePathError(`${path} is not a directory`);
  if (owner && (info.uid !== owner.uid || info.gid !== owner.gid)) await chown(path, owner.uid, owner.gid);
  if ((info.mode & 0o7777) !== mode) await chmod(path, mode);
}
