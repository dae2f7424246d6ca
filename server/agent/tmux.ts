/**
 * One tmux server per VM holds its console (uml.md §1.3): it runs as the VM's user with its socket
 * in the VM's 0700 run directory, UML runs in its only pane (`con0=fd:0,fd:1`), and it outlives the
 * agent. Raw output goes to the current boot's log through `pipe-pane`.
 */
import { join } from "node:path";
import { asVmUser, type ConfinedVm, confinement, startConfinedHolder } from "./confine/vm-confinement";
import { baseEnv, type RunAs, run } from "./exec";
import type { VmPaths } from "./vm-paths";

export const SESSION = "con";
/** Hard cap per boot log even when no agent watches (the agent truncates at a lower size). */
const PIPE_CAP_BYTES = 64 * 1024 * 1024;

export const TMUX_CONF = `# written by the zaphod agent
set -g history-limit 10000
set -g status off
set -g remain-on-exit off
set -g exit-empty on
set -g default-terminal screen
`;

/**
 * A tmux client of the VM's server. For a confined VM it runs in the VM's sandbox and cgroup
 * (asVmUser): the server is the VM user's, and a server can make its client execute a command
 * (its MSG_SHELL or MSG_EXEC message), which outside the sandbox would run on the host.
 */
async function tmux(paths: VmPaths, as: RunAs, args: string[], timeoutMs = 10_000) {
  const client = await asVmUser(paths.dir, as, paths.runDir, ["tmux", "-S", paths.tmuxSocket, ...args]);
  return run(client.argv, {
    as: client.as,
    env: baseEnv({ HOME: paths.runDir }),
    cwd: client.as ? paths.runDir : "/",
    timeoutMs,
  });
}

/** The pipe-pane command is a shell string run by tmux: built from agent paths only (config-validated charset). */
function pipeCommand(logFile: string): string {
  return `exec stdbuf -o0 head -c ${PIPE_CAP_BYTES} >> '${logFile}'`;
}

export async function startConsoleHolder(options: {
  paths: VmPaths;
  as: RunAs;
  argv: string[];
  logFile: string;
  cols: number;
  rows: number;
  /** The VM, to start it confined (confine/vm-confinement.ts) when the agent confines VMs. */
  confined?: Omit<ConfinedVm, "user" | "paths">;
}): Promise<void> {
  const { paths, as } = options;
  // One command list: the pipe is set before the server's loop reads the pane's first output.
  const tmuxArgs = [
    "-f",
    paths.tmuxConf,
    "new-session",
    "-d",
    "-s",
    SESSION,
    "-x",
    String(options.cols),
    "-y",
    String(options.rows),
    "--",
    ...options.argv,
    ";",
    "pipe-pane",
    "-o",
    "-t",
    SESSION,
    pipeCommand(options.logFile),
  ];
  const env = { HOME: paths.runDir, TMPDIR: paths.ramDir, TERM: "screen" };
  const c = confinement();
  if (c && options.confined) {
    await startConfinedHolder(
      c,
      { ...options.confined, user: as, paths },
      tmuxArgs,
      options.argv,
      env,
      async () => Boolean(await holderInfo(paths, as)),
    );
    return;
  }
  await run(["tmux", "-S", paths.tmuxSocket, ...tmuxArgs], {
    as,
    env: baseEnv(env),
    cwd: paths.runDir,
    timeoutMs: 15_000,
  });
}

/** Points the console log at a new file (a new boot); the old pipe is closed first. */
export async function switchConsoleLog(paths: VmPaths, as: RunAs, logFile: string): Promise<void> {
  await tmux(paths, as, [
    "pipe-pane",
    "-t",
    SESSION,
    ";",
    "pipe-pane",
    "-o",
    "-t",
    SESSION,
    pipeCommand(logFile),
  ]);
}

export interface HolderInfo {
  serverPid: number;
  panePid: number;
  piping: boolean;
}

export async function holderInfo(paths: VmPaths, as: RunAs): Promise<HolderInfo | null> {
  try {
    const { stdout } = await tmux(
      paths,
      as,
      ["display-message", "-p", "-t", SESSION, "#{pid} #{pane_pid} #{pane_pipe}"],
      5000,
    );
    const [serverPid, panePid, piping] = stdout.trim().split(" ");
    return { serverPid: Number(serverPid), panePid: Number(panePid), piping: piping === "1" };
  } catch {
    return null;
  }
}

export async function ensurePiping(paths: VmPaths, as: RunAs, logFile: string): Promise<void> {
  const info = await holderInfo(paths, as);
  if (info && !info.piping) await tmux(paths, as, ["pipe-pane", "-o", "-t", SESSION, pipeCommand(logFile)]);
}

/**
 * Empties the guest's console input for `ms` (issue 11 point 4): tmux holds the keys it took but
 * the guest had not read yet in its pane buffer, and would type them into the next boot after a
 * reset. The pty's input queue is flushed (TCFLSH/TCIFLUSH on the pane's tty) every 5 ms, so what
 * tmux still writes is dropped too. Runs as the VM's user (its own tty), with Debian's Essential
 * perl-base; the tty comes from tmux and must be a /dev/pts path.
 */
const FLUSH_TTY_PERL =
  "my ($t, $n) = @ARGV; sysopen(my $f, $t, 2 | 256) or exit 1; for (1 .. $n) { ioctl($f, 0x540B, 0); select(undef, undef, undef, 0.005) }";

export async function flushConsoleInput(
  paths: VmPaths,
  as: RunAs,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  // By the clock, not by the loop's count: on a loaded host 5 ms sleeps last longer, and a flush
  // still running after the next boot's login prompt ate what the member typed there.
  const until = Date.now() + ms;
  const { stdout } = await tmux(paths, as, ["display-message", "-p", "-t", SESSION, "#{pane_tty}"], 5000);
  const tty = stdout.trim();
  const left = until - Date.now();
  if (!/^\/dev\/pts\/[0-9]{1,6}$/.test(tty) || left <= 0 || signal?.aborted) return;
  const perl = ["perl", "-e", FLUSH_TTY_PERL, "--", tty, String(Math.ceil(left / 5))];
  // A confined VM's pane tty is in its sandbox's own devpts: open it there (as the VM's user).
  const flush = await asVmUser(paths.dir, as, paths.runDir, perl);
  await run(flush.argv, {
    as: flush.as,
    env: baseEnv({}),
    cwd: flush.as ? paths.runDir : "/",
    timeoutMs: left,
    signal,
    allowFailure: true,
  });
}

/** The current screen with colours, for a client that skipped ahead. */
export async function captureScreen(
  paths: VmPaths,
  as: RunAs,
): Promise<{ text: string; x: number; y: number }> {
  const [{ stdout: text }, { stdout: cursor }] = await Promise.all([
    tmux(paths, as, ["capture-pane", "-p", "-e", "-t", SESSION], 5000),
    tmux(paths, as, ["display-message", "-p", "-t", SESSION, "#{cursor_x} #{cursor_y}"], 5000),
  ]);
  const [x, y] = cursor.trim().split(" ").map(Number);
  return { text, x: x ?? 0, y: y ?? 0 };
}

export async function killHolder(paths: VmPaths, as: RunAs): Promise<void> {
  await tmux(paths, as, ["kill-server"], 5000).catch(() => undefined);
}

export function tmuxControlArgv(paths: VmPaths): string[] {
  return [
    "tmux",
    "-S",
    paths.tmuxSocket,
    "-C",
    "attach-session",
    "-f",
    "no-output,ignore-size",
    "-t",
    SESSION,
  ];
}

export function tmuxEnv(paths: VmPaths) {
  return baseEnv({ HOME: paths.runDir });
}

export { join };
