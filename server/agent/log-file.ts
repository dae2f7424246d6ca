/**
 * A size-capped, rotating log file the process writes itself (issue 11 point 10), for the agent
 * (root) and the web tier: `ZAPHOD_LOG_FILE` names it; at `maxBytes` it becomes `<file>.1` (older
 * ones shift up to `<file>.<keep>`, the oldest is dropped), so the logs never hold more than
 * (keep + 1) × maxBytes. Files are 0640 whatever the umask, opened without following a symlink,
 * and a directory others could enter is closed to them (0750-style) or refused. Node only.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  openSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

export interface LogFileOptions {
  path: string;
  /** Rotate before a write would take the file past this size. */
  maxBytes: number;
  /** Rotated files kept (`<path>.1` … `<path>.<keep>`), at least 1. */
  keep: number;
}

export interface LogFile {
  write(text: string): void;
  close(): void;
}

export const LOG_FILE_DEFAULTS = { maxBytes: 16 * 1024 * 1024, keep: 5 } as const;

function closeDirectoryToOthers(dir: string): void {
  const st = statSync(dir);
  if ((st.mode & 0o007) === 0) return;
  if (st.uid !== process.getuid?.()) {
    throw new Error(
      `log directory ${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}): make it 0750`,
    );
  }
  chmodSync(dir, st.mode & 0o770);
}

function open(path: string): { fd: number; size: number } {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o640,
  );
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new Error(`log file ${path} is not a regular file`);
  }
  fchmodSync(fd, 0o640);
  return { fd, size: st.size };
}

export function openLogFile(options: LogFileOptions): LogFile {
  const { path, maxBytes, keep } = options;
  closeDirectoryToOthers(dirname(path));
  let { fd, size } = open(path);
  const rotate = () => {
    closeSync(fd);
    for (let i = Math.max(1, keep) - 1; i >= 1; i--) {
      try {
        renameSync(`${path}.${i}`, `${path}.${i + 1}`);
      } catch {}
    }
    renameSync(path, `${path}.1`);
    ({ fd, size } = open(path));
  };
  return {
    write(text: string) {
      const bytes = Buffer.from(text, "utf8");
      if (size > 0 && size + bytes.length > maxBytes) rotate();
      writeSync(fd, bytes.subarray(0, maxBytes));
      size += Math.min(bytes.length, maxBytes);
    },
    close() {
      closeSync(fd);
    },
  };
}

/**
 * Sends everything the process prints (its own lines, and a framework's such as Next.js) to the
 * log file instead of stdout/stderr. Returns the file.
 */
export function captureProcessOutput(options: LogFileOptions): LogFile {
  const file = openLogFile(options);
  const writer = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const text =
      typeof chunk === "string"
        ? chunk
        : Buffer.from(chunk as Uint8Array).toString(
            typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8",
          );
    try {
      file.write(text);
    } catch {}
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") (done as () => void)();
    return true;
  };
  process.stdout.write = writer as typeof process.stdout.write;
  process.stderr.write = writer as typeof process.stderr.write;
  return file;
}
