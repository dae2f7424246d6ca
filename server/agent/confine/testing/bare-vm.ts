/**
 * A VM started by hand, without the agent, for confine.itest.ts and flood-bisect.ts: its
 * directories (as vm-paths.ts lays them out), UML's argv as the agent builds it (lifecycle.ts
 * umlArgv) and the console holder's tmux arguments (tmux.ts startConsoleHolder).
 */
import { chmod, chown, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunAs, run } from "../../exec";
import type { VmCgroup } from "../cgroup";

export const UML = "/usr/bin/linux.uml";
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/** A system user for the VM (no home, no shell); the caller deletes it (`userdel`). */
export async function addVmUser(userName: string): Promise<RunAs> {
  await run([
    "useradd",
    "--system",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    userName,
  ]);
  return {
    uid: Number((await run(["id", "-u", userName])).stdout.trim()),
    gid: Number((await run(["id", "-g", userName])).stdout.trim()),
  };
}

/** Builds UML's xstate shim (server/agent/uml-xstate) into `lib`, root 0444; returns its path. */
export async function buildShim(lib: string): Promise<string> {
  const shim = join(lib, "uml-xstate.so");
  const source = join(repoRoot, "server/agent/uml-xstate/uml-xstate.c");
  await run(["gcc", "-shared", "-fPIC", "-O2", "-o", shim, source, "-ldl"]);
  await chmod(shim, 0o444);
  return shim;
}

export interface BareVm {
  name: string;
  dir: string;
  diskDir: string;
  runDir: string;
  consoleDir: string;
  ramDir: string;
  umlDir: string;
  tmuxSocket: string;
  tmuxConf: string;
  log: string;
  cgroup: VmCgroup | null;
  netns: string | null;
}

/** The VM's directories under `<root>/vms/<name>` (the VM's own ones 0700, its user's). */
export async function makeBareVmDirs(root: string, name: string, user: RunAs): Promise<BareVm> {
  const dir = join(root, "vms", name);
  const vm: BareVm = {
    name,
    dir,
    diskDir: join(dir, "disk"),
    runDir: join(dir, "run"),
    consoleDir: join(dir, "console"),
    ramDir: join(dir, "ram"),
    umlDir: join(dir, "run", name),
    tmuxSocket: join(dir, "run", "tmux.sock"),
    tmuxConf: join(dir, "tmux.conf"),
    log: join(dir, "console", "boot.log"),
    cgroup: null,
    netns: null,
  };
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const d of [vm.diskDir, vm.runDir, vm.consoleDir, vm.ramDir]) {
    await mkdir(d, { mode: 0o700 });
    await chown(d, user.uid, user.gid);
    await chmod(d, 0o700);
  }
  return vm;
}

/** UML's argv as the agent builds it today (lifecycle.ts umlArgv). */
export function plainUmlArgv(vm: BareVm, o: { shim: string; image: string; memMiB: number }): string[] {
  return [
    "/usr/bin/env",
    `LD_PRELOAD=${o.shim}`,
    UML,
    `mem=${o.memMiB}M`,
    `ubd0=${join(vm.diskDir, "root.cow")},${o.image}`,
    `ubd1=${join(vm.diskDir, "swap.img")}`,
    `ubd2=${join(vm.diskDir, "storage.img")}`,
    `umid=${vm.name}`,
    `uml_dir=${vm.runDir}`,
    "con0=fd:0,fd:1",
    "con=null",
    "ssl=null",
    `hostfs=${vm.ramDir}/no-hostfs`,
    "root=/dev/ubda",
    "rw",
    "init=/sbin/init",
    `zvm.hostname=${vm.name}`,
  ];
}

/** The holder's tmux command list: the session running `umlArgv`, its output piped by `pipe`. */
export function holderTmuxArgs(vm: BareVm, umlArgv: string[], pipe = `exec cat >> '${vm.log}'`): string[] {
  return [
    "-f",
    vm.tmuxConf,
    "new-session",
    "-d",
    "-s",
    "con",
    "-x",
    "120",
    "-y",
    "40",
    "--",
    ...umlArgv,
    ";",
    "pipe-pane",
    "-o",
    "-t",
    "con",
    pipe,
  ];
}
