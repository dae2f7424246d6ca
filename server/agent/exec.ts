/**
 * The only way the agent runs host programs: argument arrays, `shell: false`, an allow-listed
 * environment, optionally as another host user (setpriv) — never a shell string from a request.
 */
import { execFile, spawn } from "node:child_process";

export interface RunAs {
  uid: number;
  gid: number;
}

export interface RunOptions {
  /** Run as this user (through setpriv when it differs from ours). */
  as?: RunAs | null;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Aborting kills the command (SIGKILL) as its timeout would. */
  signal?: AbortSignal;
  input?: string | Uint8Array;
  /** Resolve with the output even when the exit status is not 0. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`${command} exited with ${result.code}: ${result.stderr.trim().slice(0, 300)}`);
  }
}

export const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: SAFE_PATH, HOME: "/nonexistent", TERM: "screen", LANG: "C.UTF-8", ...extra };
}

/** Prefixes argv with setpriv when the command must run as another user. */
export function asUser(as: RunAs | null | undefined, argv: string[]): string[] {
  const uid = process.getuid?.() ?? -1;
  if (!as || (as.uid === uid && as.gid === (process.getgid?.() ?? -1))) return argv;
  return ["setpriv", `--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", "--", ...argv];
}

export function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const full = asUser(options.as, argv);
  const [file, ...args] = full;
  if (!file) throw new Error("empty argv");
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        shell: false,
        env: (options.env ?? baseEnv()) as NodeJS.ProcessEnv,
        cwd: options.cwd ?? "/",
        timeout: options.timeoutMs ?? 30_000,
        signal: options.signal,
        killSignal: "SIGKILL",
        maxBuffer: 8 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        const result = { code, stdout, stderr };
        if (error && !options.allowFailure) reject(new CommandError(argv.join(" ").slice(0, 200), result));
        else resolve(result);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export { spawn };
