/**
 * The VM's sandbox (issue 11 point 2): everything that runs as a VM's host user — its tmux server,
 * UML and UML's helpers — runs inside one bubblewrap sandbox and one cgroup, started as follows:
 *
 *   sh (root): writes its own pid into the VM's cgroups, then execs
 *   nice -n <the VM's nice> (root; the VM's user cannot lower it again), which execs
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
  /** The VM's CPU weight as a nice value (1..19, below the agent's 0): see cgroup.ts for why not cpu.shares. */
  nice: number;
  /** Directories bound read-write at the same path (the VM's disk, run and console dirs). */
  writable: string[];
  /** Files and directories bound read-only at the same path (image, initramfs, shim, tmux.conf). */
  readOnly: string[];
  /** The guest-RAM tmpfs (UML's TMPDIR): memory + 16 MiB, charged to the VM's cgroup. */
  ram: { dir: string; bytes: number };
  /** Device nodes bound into the sandbox's /dev (the VM's tun node at /dev/net/tun). */
  devices?: { source: string; target: string }[];
  /** hostfs's root: an empty directory the VM's user cannot write to. */
  hostfsRoot: string;
  /** The environment inside (replaces bwrap's; PATH is set here). */
  env: Record<string, string>;
  /** Working directory inside. */
  cwd: string;
}

const SANDBOX_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** The VM's default nice value: weight 526 against the 1024 of the agent and the web tier at nice 0. */
export const DEFAULT_VM_NICE = 3;

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
  for (const d of spec.devices ?? []) {
    assertAbsolute(d.source);
    assertAbsolute(d.target);
    if (!d.target.startsWith("/dev/")) throw new Error(`a sandbox device goes under /dev: ${d.target}`);
    args.push("--perms", "0755", "--dir", dirname(d.target), "--dev-bind", d.source, d.target);
  }
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

/** `nice -n <n>`: the VM's CPU weight, set by root before the drop (RLIMIT_NICE 0: it cannot be undone). */
function niceArgv(nice: number): string[] {
  if (!Number.isSafeInteger(nice) || nice < 1 || nice > 19) throw new Error(`bad VM nice value ${nice}`);
  return ["nice", "-n", String(nice)];
}

/** setpriv to the VM's uid and gid: no groups, no capabilities (bounding set emptied), no_new_privs. */
function dropToVmUser(user: RunAs, extra: string[] = []): string[] {
  const { uid, gid } = user;
  if (!Number.isSafeInteger(uid) || uid <= 0 || !Number.isSafeInteger(gid) || gid <= 0)
    throw new Error("a sandbox never runs as root");
  return [
    "setpriv",
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    ...extra,
    "--",
  ];
}

/** The whole argv that runs `command` as the VM's user inside its sandbox and cgroup (run it as root). */
export function sandboxArgv(spec: SandboxSpec, command: string[]): string[] {
  for (const file of spec.cgroupProcs) assertAbsolute(file);
  if (spec.netns) assertAbsolute(spec.netns);
  const bwrap = ["bwrap", ...bwrapArgs(spec), "--", ...dropToVmUser(spec.user), ...command];
  const inNetns = spec.netns ? ["nsenter", `--net=${spec.netns}`, "--", ...bwrap] : bwrap;
  return [
    "sh",
    "-c",
    JOIN_CGROUPS_SCRIPT,
    "zaphod-join",
    String(spec.cgroupProcs.length),
    ...spec.cgroupProcs,
    ...niceArgv(spec.nice),
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

/**
 * The pane's command (UML) prefixed so that its session's autogroup gets the VM's nice: with the
 * scheduler's autogroups on (sched_autogroup_enabled, as on this project's hosts) nice weighs a
 * process only within its session, and tmux starts the pane in a session of its own, after the
 * agent could reach it. The VM's user may raise it, never lower it below 0, as for any nice.
 */
export const AUTOGROUP_NICE_SCRIPT =
  'n=$1; shift; [ -w /proc/self/autogroup ] && echo "$n" > /proc/self/autogroup; exec "$@"';

export function withAutogroupNice(nice: number, argv: string[]): string[] {
  niceArgv(nice);
  return ["sh", "-c", AUTOGROUP_NICE_SCRIPT, "zaphod-nice", String(nice), ...argv];
}

/** A running sandbox, as the agent found it (vm-confinement.ts vmSandbox). */
export interface RunningSandbox {
  /**
   * bwrap's init there (PID 1 of the sandbox's pid namespace): a root process in every namespace
   * of the sandbox, which the VM's user can neither signal, trace nor move to namespaces of its own
   * (any process of the VM's uid could: unshare a user and mount namespace and mount its own
   * /usr over the sandbox's, so root must never enter namespaces through one).
   */
  init: number;
  user: RunAs;
  cgroupProcs: string[];
  nice: number;
}

/**
 * The argv (run it as root) that runs `command` as the VM's user inside its running sandbox: in
 * its cgroup(s) first, then in every namespace of bwrap's init (mount, net, ipc, uts, pid, cgroup),
 * with the working directory resolved inside (`--wdns`: `--wd` would chdir to a host directory
 * before entering, leaving the process a way out of the sandbox's mount tree), then setpriv as at
 * the start. This is how the agent's own tmux clients and uml_mconsole run for a confined VM:
 * nothing of the VM's uid runs outside its sandbox, so a tmux server the VM's user controls cannot
 * make an agent's client execute a command on the host (tmux protocol: MSG_SHELL, MSG_EXEC).
 */
export function enterSandboxArgv(sandbox: RunningSandbox, cwd: string, command: string[]): string[] {
  if (!Number.isSafeInteger(sandbox.init) || sandbox.init <= 1) throw new Error("bad sandbox pid");
  assertAbsolute(cwd);
  for (const file of sandbox.cgroupProcs) assertAbsolute(file);
  return [
    "sh",
    "-c",
    JOIN_CGROUPS_SCRIPT,
    "zaphod-join",
    String(sandbox.cgroupProcs.length),
    ...sandbox.cgroupProcs,
    ...niceArgv(sandbox.nice),
    "nsenter",
    `--target=${sandbox.init}`,
    "--mount",
    "--net",
    "--ipc",
    "--uts",
    "--pid",
    "--cgroup",
    `--wdns=${cwd}`,
    "--",
    // nsenter forks for the pid namespace: its child must end with it (a timeout or kill of the
    // agent's child reaches nsenter only; a tty flush left running ate the next boot's typing).
    ...dropToVmUser(sandbox.user, ["--pdeathsig=KILL"]),
    ...command,
  ];
}

/** What identifies a VM's sandbox in bwrap's own argv: its hostname, read-write binds and user. */
export function parseSandboxArgv(
  argv: string[],
): { hostname: string; writable: string[]; user: RunAs } | null {
  if (argv[0] !== "bwrap") return null;
  const end = argv.indexOf("--");
  if (end < 0) return null;
  const flags = argv.slice(1, end);
  const at = flags.indexOf("--hostname");
  const hostname = at >= 0 ? flags[at + 1] : undefined;
  const writable: string[] = [];
  for (let i = 0; i < flags.length; i++) if (flags[i] === "--bind") writable.push(flags[i + 1] as string);
  const drop = argv.slice(end + 1);
  const uid = Number(/^--reuid=(\d+)$/.exec(drop.find((a) => a.startsWith("--reuid=")) ?? "")?.[1]);
  const gid = Number(/^--regid=(\d+)$/.exec(drop.find((a) => a.startsWith("--regid=")) ?? "")?.[1]);
  if (drop[0] !== "setpriv" || !hostname || !(uid > 0) || !(gid > 0)) return null;
  return { hostname, writable, user: { uid, gid } };
}
