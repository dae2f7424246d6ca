/**
 * The VM's sandbox (issue 11 point 2): everything that runs as a VM's host user — its tmux server,
 * UML and UML's helpers — runs inside one bubblewrap sandbox and one cgroup, started as follows:
 *
 *   sh (root): writes its own pid into the VM's cgroups, then execs
 *   nsenter --net=<the VM's netns> (root), which execs
 *   bwrap (root): new mount, pid, ipc, uts and cgroup namespaces; only /usr (read-only), the VM's
 *     own directories (same paths as on the host, so every path the agent knows stays true), the
 *     read-only image, initramfs, shim and tmux.conf, an empty hostfs root and the guest-RAM tmpfs;
 *     no /etc, no /home, no /run, no other VM; then
 *   setpriv: drops to the VM's uid and gid with no groups, no capabilities (bounding set emptied)
 *     and no_new_privs, and runs the command (the console holder's keeper, see tmux-keeper below).
 *
 * Namespaces created by root and a plain uid inside — no user namespace is handed to the VM's
 * user. The network namespace is one the agent made (a later tap/veth goes there): filesystem
 * Unix sockets (tmux, mconsole) stay reachable from the host by path, but abstract sockets and the
 * host's 127.0.0.1 are not. `--die-with-parent` is not used on purpose: VMs outlive the agent.
 */
import { dirname } from "node:path";
import type { RunAs } from "../exec";

export interface SandboxSpec {
  /** The VM's name: the sandbox's hostname. */
  name: string;
  /** The VM's host user. */
  user: RunAs;
  /** A network namespace file (`/run/netns/<name>`) to enter; null gives bwrap's own empty one. */
  netns: string | null;
  /** cgroup.procs files (one per v1 controller, one for v2) the first process moves itself into. */
  cgroupProcs: string[];
  /** Directories bound read-write at the same path (the VM's disk, run and console dirs). */
  writable: string[];
  /** Files and directories bound read-only at the same path (image, initramfs, shim, tmux.conf). */
  readOnly: string[];
  /** The guest-RAM tmpfs (UML's TMPDIR): memory + 16 MiB, charged to the VM's cgroup. */
  ram: { dir: string; bytes: number };
  /** hostfs's root: an empty directory the VM's user cannot write to. */
  hostfsRoot: string;
  /** The environment inside (replaces bwrap's; PATH is set here). */
  env: Record<string, string>;
  /** Working directory inside. */
  cwd: string;
}

const SANDBOX_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** Moves the shell into each cgroup.procs file given, then execs the rest of argv. */
export const JOIN_CGROUPS_SCRIPT =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

function assertAbsolute(path: string): void {
  if (!path.startsWith("/") || path.split("/").includes("..") || /[\0\n]/.test(path))
    throw new Error(`sandbox path must be absolute and plain: ${JSON.stringify(path)}`);
}

/** Every ancestor of the given paths (below /), shortest first, each once. */
export function ancestors(paths: string[]): string[] {
  const out = new Set<string>();
  for (const path of paths) {
    const chain: string[] = [];
    for (let dir = dirname(path); dir !== "/" && dir !== "."; dir = dirname(dir)) chain.unshift(dir);
    for (const dir of chain) out.add(dir);
  }
  return [...out].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

/** bwrap's arguments (without the command). */
export function bwrapArgs(spec: SandboxSpec): string[] {
  const all = [...spec.writable, ...spec.readOnly, spec.ram.dir, spec.hostfsRoot, spec.cwd];
  for (const path of all) assertAbsolute(path);
  if (!Number.isSafeInteger(spec.ram.bytes) || spec.ram.bytes <= 0) throw new Error("bad RAM tmpfs size");
  const args = [
    "--new-session",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    ...(spec.netns ? [] : ["--unshare-net"]),
    "--hostname",
    spec.name,
    "--clearenv",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/sbin",
    "/sbin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
  ];
  // bwrap would make missing parents with the process's umask (0700 seen here): say 0755.
  for (const dir of ancestors([...spec.writable, ...spec.readOnly, spec.ram.dir, spec.hostfsRoot]))
    args.push("--perms", "0755", "--dir", dir);
  for (const path of spec.writable) args.push("--bind", path, path);
  for (const path of spec.readOnly) args.push("--ro-bind", path, path);
  // Owned by root inside (bwrap cannot chown a tmpfs), so sticky and open: only the VM's uid is here.
  args.push("--perms", "1777", "--size", String(spec.ram.bytes), "--tmpfs", spec.ram.dir);
  args.push("--perms", "0555", "--dir", spec.hostfsRoot);
  for (const [key, value] of Object.entries({ PATH: SANDBOX_PATH, ...spec.env })) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key) || /[\0]/.test(value)) throw new Error(`bad sandbox env ${key}`);
    args.push("--setenv", key, value);
  }
  // setpriv below needs these three to drop to the VM's user; they go with the uid change.
  args.push("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP");
  args.push("--chdir", spec.cwd);
  return args;
}

/** The whole argv that runs `command` as the VM's user inside its sandbox and cgroup (run it as root). */
export function sandboxArgv(spec: SandboxSpec, command: string[]): string[] {
  const { uid, gid } = spec.user;
  if (!Number.isSafeInteger(uid) || uid <= 0 || !Number.isSafeInteger(gid) || gid <= 0)
    throw new Error("a sandbox never runs as root");
  for (const file of spec.cgroupProcs) assertAbsolute(file);
  if (spec.netns) assertAbsolute(spec.netns);
  const drop = [
    "setpriv",
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
  ];
  const bwrap = ["bwrap", ...bwrapArgs(spec), "--", ...drop, ...command];
  const inNetns = spec.netns ? ["nsenter", `--net=${spec.netns}`, "--", ...bwrap] : bwrap;
  return [
    "sh",
    "-c",
    JOIN_CGROUPS_SCRIPT,
    "zaphod-join",
    String(spec.cgroupProcs.length),
    ...spec.cgroupProcs,
    ...inNetns,
  ];
}

/**
 * The console holder inside a sandbox. bwrap's PID 1 ends the sandbox when its first child exits,
 * and `tmux new-session -d` daemonizes its server and exits at once, so the first child starts the
 * server (one tmux command list, as today) and then waits as a tmux client that only returns when
 * the server is gone (`wait-for` on a channel no one signals). The stale umid directory of an
 * earlier boot is removed first, as the VM's user, where nothing outside its own tree is visible:
 * its pid file names a pid in an earlier pid namespace, and UML would take a live small pid of the
 * new one for a running twin and boot under a random umid (measured: pid file "6").
 */
export const TMUX_KEEPER_SCRIPT =
  'sock=$1; umid_dir=$2; shift 2; rm -rf -- "$umid_dir"; tmux -S "$sock" "$@" || exit $?; exec tmux -S "$sock" wait-for zaphod-sandbox-end';

export function tmuxKeeperCommand(socket: string, umidDir: string, tmuxArgs: string[]): string[] {
  assertAbsolute(socket);
  assertAbsolute(umidDir);
  return ["sh", "-c", TMUX_KEEPER_SCRIPT, "zaphod-keeper", socket, umidDir, ...tmuxArgs];
}
