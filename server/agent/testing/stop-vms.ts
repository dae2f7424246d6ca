/**
 * Tests' cleanup of an agent's VMs: every UML process of each VM under `<dataDir>/vms` (by pid,
 * found through its COW) and every tmux server holding one of its sockets, SIGKILLed. Returns the
 * VM directory names (for removeConfinementOf). Never by a broad name: only this data dir's.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { processesOfVm, scanUmlProcesses } from "../host-procs";

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

export async function killVmsOf(dataDir: string): Promise<string[]> {
  const vmsDir = join(dataDir, "vms");
  const names = await readdir(vmsDir).catch(() => [] as string[]);
  const all = await scanUmlProcesses();
  for (const name of names)
    for (const p of processesOfVm(all, { name, cow: join(vmsDir, name, "disk", "root.cow"), uid: null }))
      kill(p.pid);
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.startsWith("tmux\0") && cmdline.includes(`${vmsDir}/`)) kill(Number(entry));
  }
  return names;
}
