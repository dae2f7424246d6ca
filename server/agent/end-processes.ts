/**
 * Ending a VM's processes before its tree is removed (issue 11 point 1): a process of the VM's uid
 * that keeps creating files there (a member who escaped their guest) must not block a destroy.
 *
 * Which processes are the VM's: the VM's uid runs only that owner's VMs (a system user with no
 * login, made by the agent), so
 *   - when the VM is the owner's only one (`wholeUid`), every process of the uid;
 *   - otherwise only those that belong to this VM: in its cgroup (confined), naming its directory
 *     in their command line (its UML, tmux server and log pipe), or holding a working directory,
 *     root or open descriptor inside its directory. The caller first closes the VM's directory to
 *     the uid (root 0700), so a process that holds none of these cannot reach the tree at all; the
 *     owner's other VMs and their processes are left alone.
 * Never root's, never the agent's own uid's as a whole (an unprivileged agent runs VMs as itself).
 * Processes are found in /proc and sent SIGKILL, repeated (bounded) until none is left: a pid
 * could be reused between the check and the signal, but only within the same scan-and-kill
 * instant, by a process the kernel starts then — accepted, as everywhere pids are signalled.
 */
import { readdir, readFile, readlink, realpath } from "node:fs/promises";

export interface VmProcessScope {
  uid: number;
  /** The VM's directory (`<data>/vms/<name>`): a process that refers to anything below it is the VM's. */
  vmDir: string;
  /** The VM's cgroup path relative to a hierarchy's root (`/zaphod/<name>`), when it may have one. */
  cgroup: string | null;
  /** Every process of the uid (the VM is the owner's only one). */
  wholeUid: boolean;
}

const ownUid = () => process.getuid?.() ?? -1;

function inside(path: string, dir: string): boolean {
  const p = path.replace(/ \(deleted\)$/, "");
  return p === dir || p.startsWith(`${dir}/`);
}

/** Uids of the process (real, effective, saved, fs) and whether it is a zombie; null when gone. */
async function idsOf(pid: string): Promise<{ uids: number[]; zombie: boolean } | null> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => null);
  if (!status) return null;
  const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  return { uids, zombie: /^State:\s+Z/m.test(status) };
}

/** mountinfo's fields 3 and 4 (device, the mount's root within its filesystem), octal escapes decoded. */
function mountFields(line: string): { dev: string; root: string; at: string } | null {
  const f = line.split(" ");
  if (f.length < 5) return null;
  const decode = (x: string) =>
    x.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return { dev: f[2] as string, root: decode(f[3] as string), at: decode(f[4] as string) };
}

/** The VM directory as a mount of it would name it: its filesystem's device and its path within it. */
async function mountKeyOf(dir: string): Promise<{ dev: string; root: string } | null> {
  const real = await realpath(dir).catch(() => dir);
  let best: { dev: string; root: string; at: string } | null = null;
  for (const line of (await readFile("/proc/self/mountinfo", "utf8")).split("\n")) {
    const m = mountFields(line);
    if (!m || !(m.at === "/" || inside(real, m.at))) continue;
    if (!best || m.at.length > best.at.length) best = m;
  }
  if (!best) return null;
  const rest = best.at === "/" ? real : real.slice(best.at.length);
  return { dev: best.dev, root: `${best.root === "/" ? "" : best.root}${rest}` };
}

async function mountsVmDir(pid: string, key: { dev: string; root: string }): Promise<boolean> {
  const info = await readFile(`/proc/${pid}/mountinfo`, "utf8").catch(() => "");
  return info.split("\n").some((line) => {
    const m = mountFields(line);
    return m !== null && m.dev === key.dev && inside(m.root, key.root);
  });
}

async function belongsToVm(
  pid: string,
  scope: VmProcessScope,
  narrow: boolean,
  key: { dev: string; root: string } | null,
): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (cmdline.split("\0").some((arg) => arg.includes(`${scope.vmDir}/`) || arg === scope.vmDir)) return true;
  if (scope.cgroup) {
    const groups = await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "");
    const group = scope.cgroup;
    if (groups.split("\n").some((line) => line.endsWith(`:${group}`) || line.includes(`:${group}/`)))
      return true;
  }
  if (narrow) return false;
  for (const link of ["cwd", "root"]) {
    const target = await readlink(`/proc/${pid}/${link}`).catch(() => "");
    if (target && inside(target, scope.vmDir)) return true;
  }
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    if (target && inside(target, scope.vmDir)) return true;
  }
  return key !== null && (await mountsVmDir(pid, key));
}

/** The live (not zombie) processes of the scope, this agent excluded. */
export async function vmProcesses(scope: VmProcessScope): Promise<number[]> {
  const whole = scope.wholeUid && scope.uid !== 0 && scope.uid !== ownUid();
  // An unprivileged agent runs VMs as its own user: only what names the VM (never a shell cd'd there).
  const narrow = scope.uid === ownUid();
  const key = whole || narrow ? null : await mountKeyOf(scope.vmDir);
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const ids = await idsOf(entry);
    if (!ids || ids.zombie || !ids.uids.includes(scope.uid)) continue;
    if (whole || (await belongsToVm(entry, scope, narrow, key))) out.push(Number(entry));
  }
  return out;
}

/**
 * SIGKILLs the scope's processes until none is left (at most `timeoutMs`); returns how many were
 * signalled. Throws when some still run then (the destroy stays incomplete and can be run again).
 */
export async function endVmProcesses(scope: VmProcessScope, timeoutMs = 10_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  const signalled = new Set<number>();
  for (;;) {
    const pids = await vmProcesses(scope);
    if (pids.length === 0) return signalled.size;
    if (Date.now() > until) {
      throw new Error(
        `processes of uid ${scope.uid} in ${scope.vmDir} did not end: ${pids.slice(0, 10).join(" ")}`,
      );
    }
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        signalled.add(pid);
      } catch {
        // gone already
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
