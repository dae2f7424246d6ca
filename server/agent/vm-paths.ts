/**
 * The agent maps VM names (validated slugs) to its own paths; no path ever comes from a request.
 *
 *   <data>/vms/<name>/            root-owned 0755 (the VM user cannot rename what is inside)
 *     vm.json                     the VM's config, root-owned 0644
 *     destroying.json             while a destroy runs or was interrupted (root 0600): state `destroying`
 *     seed.iso                    the seed disk (cloud-init NoCloud), root:<VM group> 0640, /dev/ubdd read-only
 *     host-keys/                  the VM's SSH host keys, root 0700 (vm-seed.ts)
 *     access.json                 root's SSH keys and password hash for the guest, root 0600
 *     seed-booted                 the seed's instance-id the running boot got, root 0644
 *     disk/  root.cow swap.img storage.img        VM user, 0700
 *     run/   tmux.sock  <name>/{mconsole,pid}     VM user, 0700 (uml_dir; mconsole only for it and root)
 *     ram/                        VM user, 0700: TMPDIR for guest RAM (not the shared /dev/shm)
 *     console/ boot-<n>.log       VM user, 0700: raw console output per boot (tmux pipe-pane)
 */
import { join } from "node:path";
import { isSlug } from "../protocol/names";
import type { AgentConfig } from "./config";

export interface VmPaths {
  dir: string;
  configFile: string;
  /** The destroy marker: written first by vm.destroy, gone with the directory (provision.ts). */
  destroyMarker: string;
  seedDisk: string;
  hostKeysDir: string;
  accessFile: string;
  seedBooted: string;
  diskDir: string;
  cow: string;
  swap: string;
  storage: string;
  runDir: string;
  tmuxSocket: string;
  tmuxConf: string;
  umlDir: string;
  mconsole: string;
  pidFile: string;
  ramDir: string;
  consoleDir: string;
}

export function vmPaths(config: AgentConfig, name: string): VmPaths {
  if (!isSlug(name)) throw new Error(`refusing VM name ${JSON.stringify(name)}`);
  const dir = join(config.vmsDir, name);
  const diskDir = join(dir, "disk");
  const runDir = join(dir, "run");
  return {
    dir,
    configFile: join(dir, "vm.json"),
    destroyMarker: join(dir, "destroying.json"),
    seedDisk: join(dir, "seed.iso"),
    hostKeysDir: join(dir, "host-keys"),
    accessFile: join(dir, "access.json"),
    seedBooted: join(dir, "seed-booted"),
    diskDir,
    cow: join(diskDir, "root.cow"),
    swap: join(diskDir, "swap.img"),
    storage: join(diskDir, "storage.img"),
    runDir,
    tmuxSocket: join(runDir, "tmux.sock"),
    tmuxConf: join(dir, "tmux.conf"),
    umlDir: join(runDir, name),
    mconsole: join(runDir, name, "mconsole"),
    pidFile: join(runDir, name, "pid"),
    ramDir: join(dir, "ram"),
    consoleDir: join(dir, "console"),
  };
}

export function bootLogName(n: number): string {
  return `boot-${String(n).padStart(6, "0")}.log`;
}

export function parseBootLogName(file: string): number | null {
  const match = /^boot-(\d{6})\.log$/.exec(file);
  return match ? Number(match[1]) : null;
}
