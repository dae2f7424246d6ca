/**
 * The agent's side of VM confinement (issue 11 points 2 and 3), kept in one place so the rest of
 * the agent changes in a few lines: `prepareConfinement` at start-up (root only: builds the
 * initramfs, finds the cgroups, checks bwrap), `startConfinedHolder` in place of the plain tmux
 * start, `asVmUser` for every tool the agent runs as the VM's user (tmux clients, uml_mconsole, the
 * tty flush: inside the sandbox), `killConfinedVm` / `removeVmConfinement` on power off and destroy.
 *
 * The state is set once by main.ts (`setConfinement`); an agent that is not root, or runs with
 * ZAPHOD_CONFINE=off, has none and starts VMs as before.
 */
import { createHash } from "node:crypto";
import { access, readdir, readFile, readlink, rmdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { VmHostUse } from "../../protocol/agent";
import type { AgentConfig } from "../config";
import type { RunAs } from "../exec";
import {
  type CgroupLayout,
  cgroupPids,
  defaultLimits,
  detectCgroups,
  ensureVmCgroup,
  killVmCgroup,
  readVmCgroupUsage,
  removeVmCgroup,
  type VmCgroup,
  type VmLimits,
  vmCgroupAt,
} from "./cgroup";
import { type ConfineVmOptions, confinedHolderArgv, confinedUmlArgv, spawnConfined } from "./confine-vm";
import { buildInitramfs, umlKernelVersion } from "./initramfs";
import { deleteNetns, ensureNetns } from "./netns";
import { enterSandboxArgv, parseSandboxArgv, type RunningSandbox, withAutogroupNice } from "./sandbox";

export interface Confinement {
  initramfs: string;
  layout: CgroupLayout;
  cgroupParent: string;
  modules: string[];
  /** The admin's CPU (nice) and block-I/O weights for every VM (config ZAPHOD_VM_NICE / _IO_WEIGHT). */
  weights: { nice: number; ioWeight: number };
}

let current: Confinement | null = null;

export function setConfinement(confinement: Confinement | null): void {
  current = confinement;
}

export function confinement(): Confinement | null {
  return current;
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 6);
}

/** `zaphod` for the installed data dir; a test agent's own parent otherwise (no clash between agents). */
export function cgroupParentFor(config: Pick<AgentConfig, "dataDir">): string {
  return config.dataDir === "/var/lib/zaphod" ? "zaphod" : `zaphod-${shortHash(config.dataDir)}`;
}

/** The VM's network namespace name, from its directory alone (so any code holding a path finds it). */
export function vmNetnsName(vmDir: string): string {
  return `zvm-${basename(vmDir)}-${shortHash(vmDir)}`;
}

/** Builds what every confined VM shares; throws (clearly) when this host cannot confine VMs. */
export async function prepareConfinement(
  config: AgentConfig,
  log: (line: string) => void,
): Promise<Confinement> {
  await access("/usr/bin/bwrap").catch(() => {
    throw new Error("bubblewrap is not installed (apt-get install bubblewrap), or set ZAPHOD_CONFINE=off");
  });
  const layout = await detectCgroups();
  const t0 = performance.now();
  const built = await buildInitramfs({
    kernelVersion: await umlKernelVersion(config.umlBinary),
    outFile: join(config.dataDir, "lib", "initramfs.cpio"),
  });
  log(
    `confinement: cgroup v${layout.version}, initramfs ${built.path} (${built.modules.length} modules, ${Math.round(
      built.bytes / 1024,
    )} KiB, ${Math.round(performance.now() - t0)} ms)`,
  );
  return {
    initramfs: built.path,
    layout,
    cgroupParent: cgroupParentFor(config),
    modules: built.modules,
    weights: config.vmWeights,
  };
}

export interface ConfinedVm {
  name: string;
  user: RunAs;
  memoryMiB: number;
  limits?: Partial<VmLimits>;
  paths: ConfineVmOptions["paths"];
  /** The image and the shim: the read-only files UML opens. */
  readOnly: string[];
  /** Device nodes bound into the sandbox (the tun node, when the VM has a network link). */
  devices?: { source: string; target: string }[];
}

async function vmCgroup(c: Confinement, vm: { name: string; memoryMiB: number; limits?: Partial<VmLimits> }) {
  return ensureVmCgroup(
    c.layout,
    c.cgroupParent,
    vm.name,
    defaultLimits(vm.memoryMiB, { ioWeight: c.weights.ioWeight, ...vm.limits }),
    c.weights.ioWeight,
  );
}

/**
 * Starts the console holder (tmux server + UML) inside the VM's sandbox, network namespace and
 * cgroup. `tmuxArgs` are what follows `tmux -S <socket>` in the plain start; `umlArgv` is the plain
 * UML argv inside them (replaced by the confined one). Resolves once the holder answers.
 */
export async function startConfinedHolder(
  c: Confinement,
  vm: ConfinedVm,
  tmuxArgs: string[],
  umlArgv: string[],
  env: Record<string, string>,
  answers: () => Promise<boolean>,
): Promise<void> {
  const group = await vmCgroup(c, vm);
  const netns = await ensureNetns(vmNetnsName(vm.paths.dir));
  const options: ConfineVmOptions = {
    name: vm.name,
    user: vm.user,
    memoryMiB: vm.memoryMiB,
    paths: vm.paths,
    readOnly: vm.readOnly,
    devices: vm.devices,
    initramfs: c.initramfs,
    netns,
    cgroupProcs: group.procs,
    nice: c.weights.nice,
  };
  const start = tmuxArgs.indexOf("--");
  const end = start + 1 + umlArgv.length;
  if (start < 0 || tmuxArgs.slice(start + 1, end).join("\0") !== umlArgv.join("\0"))
    throw new Error("the holder's tmux arguments do not carry the UML argv after --");
  const confinedArgs = [
    ...tmuxArgs.slice(0, start + 1),
    ...withAutogroupNice(c.weights.nice, confinedUmlArgv(umlArgv, options)),
    ...tmuxArgs.slice(end),
  ];
  const spawned = await spawnConfined(
    confinedHolderArgv(options, env, confinedArgs),
    join(vm.paths.dir, "sandbox.log"),
  );
  let exited: number | null | undefined;
  void spawned.exited.then((code) => {
    exited = code;
  });
  const deadline = Date.now() + 15_000;
  while (!(await answers())) {
    if (exited !== undefined || Date.now() > deadline) {
      const tail = await readFile(join(vm.paths.dir, "sandbox.log"), "utf8").catch(() => "");
      throw new Error(
        `the VM's sandbox did not start (exit ${exited ?? "none"}): ${tail.trim().slice(-300)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await niceAutogroups(group, c.weights.nice);
}

/**
 * The autogroups of the sessions already in the VM's cgroup (bwrap's, the tmux server's) get the
 * VM's nice (see withAutogroupNice for the pane's). Nothing to do where there are no autogroups.
 */
async function niceAutogroups(group: VmCgroup, nice: number): Promise<void> {
  for (const pid of await cgroupPids(group)) {
    await writeFile(`/proc/${pid}/autogroup`, String(nice)).catch(() => undefined);
  }
}

async function existingGroup(c: Confinement, name: string): Promise<VmCgroup | null> {
  const group = vmCgroupAt(c.layout, c.cgroupParent, name);
  const exists = await access(group.procs[0] as string).then(
    () => true,
    () => false,
  );
  return exists ? group : null;
}

/** What the VM's cgroup counts now (memory includes its RAM tmpfs), or null when unconfined. */
export async function confinedVmUsage(name: string): Promise<VmHostUse | null> {
  if (!current) return null;
  const group = await existingGroup(current, name);
  if (!group) return null;
  const { memoryBytes, memoryLimitBytes, pids, pidsMax } = await readVmCgroupUsage(group);
  return { memoryBytes, memoryLimitBytes, pids, pidsMax };
}

/** Ends every process in the VM's cgroup (what killing UML's processes by scan may miss). */
export async function killConfinedVm(name: string): Promise<void> {
  if (!current) return;
  const group = await existingGroup(current, name);
  if (group) await killVmCgroup(group);
}

/** Destroy: the VM's cgroup (its processes ended first) and network namespace go. */
export async function removeVmConfinement(name: string, vmDir: string): Promise<void> {
  if (!current) return;
  const group = await existingGroup(current, name);
  if (group) {
    await killVmCgroup(group);
    await removeVmCgroup(group);
  }
  await deleteNetns(vmNetnsName(vmDir));
}

/**
 * The VM's running sandbox: bwrap's init in it, found by what only root can set — a process whose
 * real, effective, saved and filesystem uids are all 0, named bwrap, with the VM's hostname and run
 * directory in its argv, in a pid namespace other than the agent's (the outer bwrap is in ours).
 * Never a process of the VM's uid (see RunningSandbox). Null when unconfined or not running.
 */
export async function vmSandbox(vmDir: string): Promise<RunningSandbox | null> {
  if (!current) return null;
  const name = basename(vmDir);
  const runDir = join(vmDir, "run");
  const ownPidNs = await readlink("/proc/self/ns/pid");
  const cached = knownSandboxes.get(vmDir);
  if (cached && (await sandboxInitAt(cached.init, name, runDir, ownPidNs))) return cached;
  knownSandboxes.delete(vmDir);
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const user = await sandboxInitAt(Number(entry), name, runDir, ownPidNs);
    if (!user) continue;
    const found = {
      init: Number(entry),
      user,
      cgroupProcs: vmCgroupAt(current.layout, current.cgroupParent, name).procs,
      nice: current.weights.nice,
    };
    knownSandboxes.set(vmDir, found);
    return found;
  }
  return null;
}

const knownSandboxes = new Map<string, RunningSandbox>();

/** The VM's user when `pid` is the init of the sandbox of VM `name` (see vmSandbox), else null. */
async function sandboxInitAt(
  pid: number,
  name: string,
  runDir: string,
  ownPidNs: string,
): Promise<RunAs | null> {
  const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
  if (comm !== "bwrap\n") return null;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  if (!/^Uid:\s+0\s+0\s+0\s+0$/m.test(status)) return null;
  const parsed = parseSandboxArgv(
    (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0"),
  );
  if (parsed?.hostname !== name || !parsed.writable.includes(runDir)) return null;
  const pidNs = await readlink(`/proc/${pid}/ns/pid`).catch(() => ownPidNs);
  return pidNs === ownPidNs ? null : parsed.user;
}

/**
 * How the agent runs a tool of the VM's user (tmux clients, uml_mconsole, the tty flush): inside
 * the VM's sandbox and cgroup when it has one (as root through enterSandboxArgv, `as` null), else
 * as the VM's user as before (unconfined, or no sandbox running: then no server of it runs either).
 */
export async function asVmUser(
  vmDir: string,
  as: RunAs | null,
  cwd: string,
  argv: string[],
): Promise<{ argv: string[]; as: RunAs | null }> {
  const sandbox = await vmSandbox(vmDir);
  if (!sandbox) return { argv, as };
  if (as && (as.uid !== sandbox.user.uid || as.gid !== sandbox.user.gid))
    throw new Error(`the sandbox of ${basename(vmDir)} runs as another user`);
  return { argv: enterSandboxArgv(sandbox, cwd, argv), as: null };
}

/**
 * For test harnesses (which start their own agent on a temp data dir): removes what that agent's
 * confinement left — each VM's cgroup (processes ended first), the agent's cgroup parent, and
 * each VM's network namespace. Does nothing for parts that do not exist.
 */
export async function removeConfinementOf(dataDir: string, vmNames: string[]): Promise<void> {
  const layout = await detectCgroups().catch(() => null);
  const parent = cgroupParentFor({ dataDir });
  for (const name of vmNames) {
    if (layout) {
      const group = vmCgroupAt(layout, parent, name);
      await killVmCgroup(group, 5000).catch(() => false);
      await removeVmCgroup(group).catch(() => undefined);
    }
    await deleteNetns(vmNetnsName(join(dataDir, "vms", name))).catch(() => undefined);
  }
  if (layout) {
    const dirs =
      layout.version === 2
        ? [join(layout.root, parent)]
        : Object.values(layout.controllers).flatMap((c) => (c ? [join(c, parent)] : []));
    for (const dir of dirs) await rmdir(dir).catch(() => undefined);
  }
}
