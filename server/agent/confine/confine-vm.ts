/**
 * The one function the agent's VM start calls (issue 11 points 2 and 3): it turns the plain UML
 * argv and the console holder's tmux arguments into the confined start — the initramfs that turns
 * module loading off, hostfs pointed at an empty directory, guest RAM on the sandbox's own tmpfs,
 * all inside the VM's sandbox, network namespace and cgroup — and spawns it detached (the sandbox
 * outlives the agent; see sandbox.ts).
 */
import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { RunAs } from "../exec";
import { RAM_TMPFS_SLACK_BYTES } from "./cgroup";
import { type SandboxSpec, sandboxArgv, tmuxKeeperCommand } from "./sandbox";

export interface ConfineVmOptions {
  name: string;
  user: RunAs;
  memoryMiB: number;
  /** The VM's own directories, as the agent knows them (vm-paths.ts). */
  paths: {
    dir: string;
    diskDir: string;
    runDir: string;
    consoleDir: string;
    ramDir: string;
    umlDir: string;
    tmuxSocket: string;
    tmuxConf: string;
  };
  /** Read-only files UML needs: its image, and the shim when preloaded. */
  readOnly: string[];
  /** Device nodes for the sandbox's /dev (sandbox.ts). */
  devices?: { source: string; target: string }[];
  /** The root-owned initramfs (initramfs.ts); null boots without it (module loading stays on). */
  initramfs: string | null;
  netns: string | null;
  cgroupProcs: string[];
  /** The VM's CPU weight as a nice value (sandbox.ts). */
  nice: number;
}

/** The empty directory hostfs is confined to (made by bwrap, 0555 root, inside the sandbox only). */
export function hostfsRoot(paths: { dir: string }): string {
  return join(paths.dir, "hostfs-empty");
}

/** UML's argv with the initramfs added and hostfs pointed at the sandbox's empty directory. */
export function confinedUmlArgv(plain: string[], options: ConfineVmOptions): string[] {
  const argv = plain.map((arg) => (arg.startsWith("hostfs=") ? `hostfs=${hostfsRoot(options.paths)}` : arg));
  if (!argv.some((arg) => arg.startsWith("hostfs="))) argv.push(`hostfs=${hostfsRoot(options.paths)}`);
  if (options.initramfs) {
    if (argv.some((arg) => arg.startsWith("initrd="))) throw new Error("UML argv already names an initrd");
    const kernelArgs = argv.findIndex((arg) => arg.startsWith("mem="));
    argv.splice(kernelArgs < 0 ? argv.length : kernelArgs + 1, 0, `initrd=${options.initramfs}`);
  }
  return argv;
}

export function sandboxSpec(options: ConfineVmOptions, env: Record<string, string>): SandboxSpec {
  const { paths } = options;
  return {
    name: options.name,
    user: options.user,
    netns: options.netns,
    cgroupProcs: options.cgroupProcs,
    nice: options.nice,
    writable: [paths.diskDir, paths.runDir, paths.consoleDir],
    readOnly: [...options.readOnly, ...(options.initramfs ? [options.initramfs] : []), paths.tmuxConf],
    ram: { dir: paths.ramDir, bytes: options.memoryMiB * 1024 * 1024 + RAM_TMPFS_SLACK_BYTES },
    hostfsRoot: hostfsRoot(paths),
    devices: options.devices,
    env: { ...env, TMPDIR: paths.ramDir },
    cwd: paths.runDir,
  };
}

/**
 * The console holder's start, confined: `tmuxArgs` are the arguments after `tmux -S <socket>` that
 * the agent runs today (`-f <conf> new-session -d … -- <UML argv> ; pipe-pane …`), with the UML
 * argv already passed through confinedUmlArgv.
 */
export function confinedHolderArgv(
  options: ConfineVmOptions,
  env: Record<string, string>,
  tmuxArgs: string[],
) {
  return sandboxArgv(
    sandboxSpec(options, env),
    tmuxKeeperCommand(options.paths.tmuxSocket, options.paths.umlDir, tmuxArgs),
  );
}

/**
 * Spawns the confined holder detached (own session, stdin closed, output appended to `logFile`, a
 * root-owned file the agent opens without following links) and returns its pid once it runs.
 * The caller then waits for tmux to answer, as it waits for UML today.
 */
export async function spawnConfined(
  argv: string[],
  logFile: string,
): Promise<{ pid: number; exited: Promise<number | null> }> {
  const log = await open(
    logFile,
    constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
    0o640,
  );
  try {
    const [file, ...args] = argv;
    if (!file) throw new Error("empty argv");
    const child = spawn(file, args, {
      detached: true,
      shell: false,
      stdio: ["ignore", log.fd, log.fd],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } as unknown as NodeJS.ProcessEnv,
      cwd: "/",
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.unref();
    return { pid: child.pid as number, exited };
  } finally {
    await log.close();
  }
}
