/**
 * Every boot's record (issue 14 point 6): the history that shows why last night's boot failed.
 * A boot is one console log (boot-log.ts): it begins when the agent opens a new log (a start, the
 * panel's reboot, a hard reset, a restore) and ends when the agent stops the VM (shutdown, force
 * off), begins the next one (reboot, hard reset), or sees the VM gone without being asked: then the
 * log's tail says whether the guest halted itself or the kernel died (a crash, with its last line).
 *
 *   <vm dir>/boots.json    root's, 0600 (the agent's own directory): { n, startedAt, cause, endedAt, end, endDetail }[]
 *
 * Writes go one at a time per VM (a start, the watcher and a power-off may overlap), and the
 * records follow the logs' retention: a record whose log was removed goes with it.
 */
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BootCause, BootEnd, BootRecord } from "../protocol/agent";
import { bannersIn } from "./boot-once";
import { lstatOrNull, openRegularNoFollow, readTail } from "./safe-fs";
import { bootLogName } from "./vm-paths";

export type JournalEntry = Pick<BootRecord, "n" | "startedAt" | "cause" | "endedAt" | "end" | "endDetail">;

type Paths = { dir: string; consoleDir: string };

const journalPath = (paths: Paths) => join(paths.dir, "boots.json");
/** More than any retention keeps: a bound on the file whatever happens to the logs. */
const MAX_ENTRIES = 400;

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier write of this VM's journal. */
function serialized<T>(paths: Paths, fn: () => Promise<T>): Promise<T> {
  const key = journalPath(paths);
  const run = (queues.get(key) ?? Promise.resolve()).catch(() => undefined).then(fn);
  queues.set(key, run);
  void run.finally(() => {
    if (queues.get(key) === run) queues.delete(key);
  });
  return run;
}

export async function readJournal(paths: Paths): Promise<JournalEntry[]> {
  const handle = await openRegularNoFollow(journalPath(paths)).catch(() => null);
  if (!handle) return [];
  try {
    const parsed = JSON.parse(await handle.readFile("utf8")) as unknown;
    return Array.isArray(parsed)
      ? parsed.filter((e): e is JournalEntry => Number.isSafeInteger((e as JournalEntry)?.n))
      : [];
  } catch {
    return [];
  } finally {
    await handle.close();
  }
}

async function writeJournal(paths: Paths, entries: JournalEntry[]): Promise<void> {
  const path = journalPath(paths);
  await writeFile(`${path}.tmp`, `${JSON.stringify(entries.slice(-MAX_ENTRIES))}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** How the boot before a new one ended, given why the new one began. */
function endBefore(cause: BootCause): BootEnd | null {
  return cause === "reboot" || cause === "hard-reset" ? cause : null;
}

/**
 * Boot `n` began (`cause`); a boot still open before it ends as the new one's cause says (a reboot,
 * a hard reset) or, for a start, is left to `settleEnded` (it ended unseen). Keeps the records of
 * the boots numbered `oldestKept` and later.
 */
export function beginBoot(paths: Paths, n: number, cause: BootCause, oldestKept: number, now = new Date()) {
  return serialized(paths, async () => {
    const at = now.toISOString();
    const entries = (await readJournal(paths)).filter((e) => e.n < n && e.n >= oldestKept);
    const last = entries.at(-1);
    const ending = endBefore(cause);
    if (last && last.end === null && ending) Object.assign(last, { end: ending, endedAt: at });
    entries.push({ n, startedAt: at, cause, endedAt: null, end: null, endDetail: null });
    await writeJournal(paths, entries);
  });
}

/** The running boot ended as the agent made it end (shut down, force off); once. */
export function endBoot(paths: Paths, end: BootEnd, detail: string | null = null, now = new Date()) {
  return serialized(paths, async () => {
    const entries = await readJournal(paths);
    const last = entries.at(-1);
    if (!last || last.end !== null) return;
    Object.assign(last, { end, endedAt: now.toISOString(), endDetail: detail });
    await writeJournal(paths, entries);
  });
}

/** A kernel's words for a halt it was asked for (the guest's poweroff or halt). */
const HALTED = /reboot: (System halted|Power down)|System halted\.|Power down\./;

const ESC = "\u001b";
const ESCAPES = new RegExp(`${ESC}\\[[0-9;?]*[ -/]*[@-~]|${ESC}[()][0-9A-Za-z]|${ESC}[=>]`, "g");

/** The last line of console text worth showing (no escapes, no prompt noise). */
export function lastLine(text: string): string | null {
  const lines = text
    .replace(ESCAPES, "")
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const panic = lines.findLast((l) => /Kernel panic|not syncing|Oops|BUG:/.test(l));
  return (panic ?? lines.at(-1) ?? "").slice(0, 300) || null;
}

/**
 * The VM is not running and its last boot is still open: it ended without the agent stopping it.
 * The log's tail says how: the guest halted itself, or it died (a crash, with its last line).
 */
export function settleEnded(paths: Paths, now = new Date()) {
  return serialized(paths, async () => {
    const entries = await readJournal(paths);
    const last = entries.at(-1);
    if (!last || last.end !== null) return;
    const tail = (await readTail(join(paths.consoleDir, bootLogName(last.n)), 16 * 1024).catch(() => null))
      ?.toString("utf8")
      .slice(-16 * 1024);
    const halted = tail ? HALTED.test(tail) : false;
    Object.assign(last, {
      end: halted ? "guest-halt" : "crash",
      endedAt: now.toISOString(),
      endDetail: halted || !tail ? null : lastLine(tail),
    });
    await writeJournal(paths, entries);
  });
}

/** Whether the last boot is still open (the watcher's cheap check before `settleEnded`). */
export async function lastBootOpen(paths: Paths): Promise<boolean> {
  const last = (await readJournal(paths)).at(-1);
  return last !== undefined && last.end === null;
}

/**
 * The boots, newest first: every record, and every log kept from before records were kept; with
 * each log's size and the guest's own reboots in it.
 */
export async function listBoots(paths: Paths, logs: number[], running: boolean): Promise<BootRecord[]> {
  const entries = new Map((await readJournal(paths)).map((e) => [e.n, e]));
  const numbers = [...new Set([...entries.keys(), ...logs])].sort((a, b) => b - a);
  const newest = numbers[0];
  const out: BootRecord[] = [];
  for (const n of numbers) {
    const file = join(paths.consoleDir, bootLogName(n));
    const info = logs.includes(n) ? await lstatOrNull(file) : null;
    const e = entries.get(n);
    const isRunning = running && n === newest && (e?.end ?? null) === null;
    out.push({
      n,
      startedAt: e?.startedAt ?? null,
      cause: e?.cause ?? null,
      endedAt: e?.endedAt ?? null,
      end: e?.end ?? null,
      endDetail: e?.endDetail ?? null,
      guestReboots: info?.isFile() ? Math.max(0, (await bannersIn(file)) - 1) : 0,
      logBytes: info?.isFile() ? info.size : null,
      running: isRunning,
    });
  }
  return out;
}
