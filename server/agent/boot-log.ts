/**
 * Boot logs: each boot the agent starts (start, reboot, reset) writes the console to a new
 * `console/boot-<n>.log` (the last `consoleLogsKept` kept); a guest-initiated reboot continues in
 * the current one. `BootWatch` follows one boot's log until the guest reaches a stage.
 */
import { constants } from "node:fs";
import { open, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AGENT_LIMITS, type BootCause, BootLogsKept } from "../protocol/agent";
import { beginBoot } from "./boot-journal";
import { detectBootStage } from "./boot-stage";
import { AgentFailure } from "./errors";
import { removeTree } from "./remove-tree";
import { lstatOrNull, openRegularNoFollow, readSmallFileNoFollow, readTail } from "./safe-fs";
import type { Runtime } from "./vm-manager";
import { bootLogName, parseBootLogName } from "./vm-paths";

export interface BootLog {
  n: number;
  file: string;
}

export async function bootLogs(runtime: Runtime): Promise<number[]> {
  const files = await readdir(runtime.paths.consoleDir).catch(() => []);
  return files
    .map(parseBootLogName)
    .filter((n): n is number => n !== null)
    .sort((a, b) => a - b);
}

export async function currentBootLog(runtime: Runtime): Promise<BootLog | null> {
  const n = (await bootLogs(runtime)).at(-1);
  return n === undefined ? null : { n, file: join(runtime.paths.consoleDir, bootLogName(n)) };
}

/** Boot logs kept per VM: the admin's setting, `<data>/boot-logs.json` (loaded at start). */
let kept: number = AGENT_LIMITS.consoleLogsKept;

export function bootLogsKept(): number {
  return kept;
}

const retentionFile = (dataDir: string) => join(dataDir, "boot-logs.json");

export async function loadBootLogRetention(dataDir: string): Promise<number> {
  const text = await readSmallFileNoFollow(retentionFile(dataDir), 1024).catch(() => null);
  const parsed = text ? BootLogsKept.safeParse((JSON.parse(text) as { keep?: unknown }).keep) : null;
  kept = parsed?.success ? parsed.data : AGENT_LIMITS.consoleLogsKept;
  return kept;
}

/** The setting, persisted; each VM's older logs go at its next boot. */
export async function setBootLogRetention(dataDir: string, keep: number): Promise<number> {
  const path = retentionFile(dataDir);
  await writeFile(`${path}.tmp`, `${JSON.stringify({ keep })}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  kept = keep;
  return kept;
}

/**
 * A new boot log, recorded as a boot that began for `cause` (boot-journal.ts); the oldest beyond
 * the kept number are removed, with their records.
 */
export async function nextBootLog(runtime: Runtime, cause: BootCause): Promise<BootLog> {
  const logs = await bootLogs(runtime);
  const n = (logs.at(-1) ?? 0) + 1;
  const keep = kept - 1;
  for (const old of logs.slice(0, Math.max(0, logs.length - keep))) {
    // Through the one removal routine: the console directory is the VM user's (a planted
    // symlink is removed, never followed; a planted directory is emptied as that user).
    await removeTree(join(runtime.paths.consoleDir, bootLogName(old)), runtime.user).catch(() => undefined);
  }
  await beginBoot(runtime.paths, n, cause, n - keep).catch(() => undefined);
  return { n, file: join(runtime.paths.consoleDir, bootLogName(n)) };
}

/** Bounds the current boot log: past the limit it is truncated (O_APPEND writers continue at 0). */
export async function capBootLog(runtime: Runtime): Promise<number | null> {
  const current = await currentBootLog(runtime);
  if (!current) return null;
  const info = await lstatOrNull(current.file);
  if (!info?.isFile() || info.size <= AGENT_LIMITS.consoleLogMaxBytes) return null;
  const handle = await open(current.file, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if ((await handle.stat()).isFile()) await handle.truncate(0);
  } finally {
    await handle.close();
  }
  return info.size;
}

/** Whether this boot's log already shows the kernel's banner (the guest really (re)booted). */
async function bannerSeen(file: string, from: number): Promise<{ seen: boolean; next: number }> {
  const handle = await openRegularNoFollow(file).catch(() => null);
  if (!handle) return { seen: false, next: from };
  try {
    const { size } = await handle.stat();
    const length = Math.min(size - from, 1024 * 1024);
    if (length <= 0) return { seen: false, next: from };
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, from);
    const seen = buffer.subarray(0, bytesRead).includes("Linux version ");
    return { seen, next: Math.max(from, from + bytesRead - 16) };
  } finally {
    await handle.close();
  }
}

/**
 * Follows boot `bootN` of a VM: `reached()` is true once that boot's log shows the kernel banner
 * and then a login prompt or a prompt that needs a human (`up` / `waiting-at-console`). It throws
 * `invalid-state` when the VM's process has been gone for 3 s.
 */
export class BootWatch {
  private missing = 0;
  private banner = false;
  private scanned = 0;

  constructor(
    private runtime: Runtime,
    private bootN: number,
    private isRunning: () => Promise<boolean>,
  ) {}

  async reached(): Promise<boolean> {
    // UML re-execs itself on reboot (same pid): a probe can miss it for a moment.
    if (await this.isRunning()) this.missing = 0;
    else if (++this.missing >= 12) {
      throw new AgentFailure("invalid-state", `${this.runtime.config.name} stopped while booting`);
    }
    const current = await currentBootLog(this.runtime);
    if (!current || current.n < this.bootN) return false;
    // Until the kernel banner is in this boot's log, a prompt there is the old system's.
    if (!this.banner) {
      const probe = await bannerSeen(current.file, this.scanned);
      this.banner = probe.seen;
      this.scanned = probe.next;
      if (!this.banner) return false;
    }
    const tail = await readTail(current.file, 8192).catch(() => Buffer.alloc(0));
    return detectBootStage(tail.toString("latin1")).stage !== "booting";
  }
}

/**
 * GET of one boot's console log. The console directory is the VM user's: the file is opened
 * without following a symlink and must be a regular file of that user (a planted hard link to
 * anyone else's file is refused); it is sent up to the size it had when opened.
 */
export async function sendBootLog(runtime: Runtime, n: number, res: import("node:http").ServerResponse) {
  const handle = await openRegularNoFollow(join(runtime.paths.consoleDir, bootLogName(n))).catch(() => null);
  if (!handle) throw new AgentFailure("not-found", `${runtime.config.name} has no console log of boot ${n}`);
  try {
    const info = await handle.stat();
    if (info.uid !== runtime.user.uid)
      throw new AgentFailure("invalid-state", `the console log of boot ${n} is not the VM's own file`);
    res.writeHead(200, { "content-type": "application/octet-stream", "x-zaphod-size": String(info.size) });
    let sent = 0;
    while (sent < info.size) {
      const chunk = Buffer.alloc(Math.min(256 * 1024, info.size - sent)); // written as is: a new one each time
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, sent);
      if (bytesRead === 0) break; // truncated by the cap meanwhile: what there was is sent
      sent += bytesRead;
      if (!res.write(chunk.subarray(0, bytesRead)))
        await new Promise((resolve) => res.once("drain", resolve));
    }
    res.end();
  } finally {
    await handle.close();
  }
}
