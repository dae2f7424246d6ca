/**
 * Finds UML processes from /proc (not from the member-writable pid file): a VM's main process is
 * the one whose command line carries its own `ubd0=<cow>,` and `umid=<name>`, owned by the VM's
 * uid, whose parent is not one of them (UML's helpers and guest-process stubs share the cmdline).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { coalesce } from "./coalesce";

export interface UmlProcess {
  pid: number;
  uid: number;
  ppid: number;
  startedAtMs: number;
  cmdline: string[];
}

let bootTimeMs: number | null = null;
const CLOCK_TICKS = 100;

async function hostBootTimeMs(): Promise<number> {
  if (bootTimeMs !== null) return bootTimeMs;
  const stat = await readFile("/proc/stat", "utf8");
  const btime = /^btime (\d+)$/m.exec(stat);
  bootTimeMs = btime ? Number(btime[1]) * 1000 : 0;
  return bootTimeMs;
}

async function readProcess(pid: number): Promise<UmlProcess | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`);
    if (raw.length === 0) return null;
    const cmdline = raw.toString("utf8").split("\0").filter(Boolean);
    // tmux keeps its client's argv (which contains the UML command line): only UML binaries count.
    if (!/(^|\/)(linux|linux\.uml|vmlinux)$/.test(cmdline[0] ?? "")) return null;
    if (!cmdline.some((arg) => arg.startsWith("umid="))) return null;
    const statText = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = statText.slice(statText.lastIndexOf(")") + 2).split(" ");
    const info = await stat(`/proc/${pid}`);
    return {
      pid,
      uid: info.uid,
      ppid: Number(fields[1]),
      startedAtMs: (await hostBootTimeMs()) + (Number(fields[19]) / CLOCK_TICKS) * 1000,
      cmdline,
    };
  } catch {
    return null;
  }
}

/**
 * Every process on the host that looks like a UML (has a `umid=` argument). Callers at once share
 * a scan that started after they asked (./coalesce.ts); the array is shared: never change it.
 */
export const scanUmlProcesses: () => Promise<readonly UmlProcess[]> = coalesce(scanNow);

async function scanNow(): Promise<UmlProcess[]> {
  const entries = await readdir("/proc");
  const out: UmlProcess[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      const proc = await readProcess(Number(entry));
      if (proc) out.push(proc);
    }),
  );
  return out;
}

export interface VmProcessKey {
  name: string;
  cow: string;
  uid: number | null;
}

/** All processes of one VM (main first), matched by umid and COW path (and uid when known). */
export function processesOfVm(all: readonly UmlProcess[], key: VmProcessKey): UmlProcess[] {
  const mine = all.filter(
    (p) =>
      p.cmdline.includes(`umid=${key.name}`) &&
      p.cmdline.some((arg) => arg.startsWith(`ubd0=${key.cow},`)) &&
      (key.uid === null || p.uid === key.uid),
  );
  const pids = new Set(mine.map((p) => p.pid));
  return mine.sort((a, b) => Number(pids.has(a.ppid)) - Number(pids.has(b.ppid)) || a.pid - b.pid);
}

export function mainProcessOfVm(all: readonly UmlProcess[], key: VmProcessKey): UmlProcess | null {
  const procs = processesOfVm(all, key);
  const first = procs[0];
  if (!first) return null;
  const pids = new Set(procs.map((p) => p.pid));
  return pids.has(first.ppid) ? null : first;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
