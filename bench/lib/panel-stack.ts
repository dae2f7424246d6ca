/**
 * The whole product on this host for a bench: the real agent as root (the integration-test
 * harness: temp data dir and socket, own host-user prefix and socket group, busybox image), a fresh
 * SQLite database migrated and seeded with the host CLI (dist/cli.mjs), members whose VMs the CLI
 * provisions through the agent as the panel does, and the production web tier (dist/web.mjs, the
 * `next build` in .next) on 127.0.0.1. Members sign in through the real login form
 * (./sign-in.ts) and get console tickets from the console page's server action, as the browser does.
 *
 * Needs root, `npx next build && node scripts/build-dist.mjs` first (dist/uml-xstate.so is the
 * UML shim some CPUs need). `stop()` ends the web tier by pid and cleans the harness up (VMs, tmux
 * servers, agent, host users, temp dir), also after a failure half-way.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHarness, type Harness } from "../../server/agent/testing/agent-harness";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Member {
  username: string;
  password: string;
  vm: string;
}

export interface PanelStackOptions {
  /** Another database (a PostgreSQL URL); default: a fresh SQLite file. */
  databaseUrl?: string;
  /** Web instances on that database (each its own port and process); default 1. */
  webInstances?: number;
  /** More environment for the agent and for each web instance (a bench's probes, the agent's settings). */
  agentEnv?: Record<string, string>;
  webEnv?: Record<string, string>;
  /** More `zaphod provision` arguments for every member's VM (e.g. `--autostart --no-start`). */
  provisionArgs?: string[];
}

export interface PanelStack {
  base: string;
  /** Every web instance's base URL (the first is `base`). */
  bases: string[];
  harness: Harness;
  web: ChildProcess;
  webs: ChildProcess[];
  webLog: string;
  /** The id of the console page's `openConsoleAction` in this build. */
  ticketActionId: string;
  /** The VM's host user (uid:gid) and its tmux socket and run dir (server/agent/vm-paths.ts). */
  vmHost(vm: string): Promise<{ uidGid: string; tmuxSocket: string; runDir: string }>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function cli(args: string[], env: Record<string, string>, stdin = "", timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [join(repoRoot, "dist/cli.mjs"), ...args],
      { cwd: repoRoot, env: env as NodeJS.ProcessEnv, timeout: timeoutMs, encoding: "utf8" },
      (error: Error | null, stdout: string, stderr: string) =>
        error ? reject(new Error(`zaphod ${args[0]}: ${stderr || error.message}`)) : resolve(stdout),
    );
    child.stdin?.end(stdin);
  });
}

/** Starts everything; on any failure stops what it started and rethrows. */
export async function startPanelStack(
  members: Member[],
  log: (line: string) => void,
  options: PanelStackOptions = {},
): Promise<PanelStack> {
  for (const built of [".next/BUILD_ID", "dist/web.mjs", "dist/cli.mjs", "dist/uml-xstate.so"])
    if (!existsSync(join(repoRoot, built)))
      throw new Error(`${built} is missing: build first (npx next build && node scripts/build-dist.mjs)`);
  const harness = await createHarness();
  const webs: ChildProcess[] = [];
  const stopWeb = async (web: ChildProcess) => {
    if (web.pid && web.exitCode === null && web.signalCode === null) {
      const exited = new Promise((resolve) => web.once("exit", resolve));
      process.kill(web.pid, "SIGTERM");
      await Promise.race([exited, sleep(5_000)]);
      if (web.exitCode === null && web.signalCode === null) process.kill(web.pid, "SIGKILL");
    }
  };
  const stop = async () => {
    await Promise.all(webs.map(stopWeb));
    await harness.cleanup();
  };
  try {
    Object.assign(harness.env, options.agentEnv);
    await harness.startAgent();
    const webDir = join(harness.root, "web");
    mkdirSync(webDir, { mode: 0o700 });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = {
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: webDir,
      LANG: "C.UTF-8",
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      PORT: String(port),
      DATABASE_URL: options.databaseUrl ?? `file:${join(webDir, "bench.db")}`,
      AUTH_SECRET: randomBytes(32).toString("hex"),
      ZAPHOD_ORIGINS: base,
      ZAPHOD_AGENT_SOCKET: harness.socketPath,
    };
    await cli(["migrate"], env);
    for (const m of members)
      await cli(["create-user", m.username, "--email", `${m.username}@example.org`], env, `${m.password}\n`);
    log(`provisioning ${members.map((m) => m.vm).join(", ")} (busybox, 64 MiB) through the agent…`);
    // Four at a time: a storm of CLI processes on one SQLite file only measures the lock.
    const queue = [...members];
    const provisionNext = async (): Promise<void> => {
      for (let m = queue.shift(); m; m = queue.shift())
        await cli(
          [
            "provision",
            m.username,
            m.vm,
            "--image",
            harness.image,
            "--memory",
            "64",
            "--storage",
            "1",
            ...(options.provisionArgs ?? []),
          ],
          env,
        );
    };
    await Promise.all(Array.from({ length: 4 }, provisionNext));
    const webLog = join(webDir, "web.log");
    const bases = [base];
    for (let i = 1; i < (options.webInstances ?? 1); i++) bases.push(`http://127.0.0.1:${await freePort()}`);
    await Promise.all(
      bases.map(async (b, i) => {
        const logFd = openSync(i === 0 ? webLog : join(webDir, `web-${i}.log`), "a");
        const port = new URL(b).port;
        const child = spawn(process.execPath, [join(repoRoot, "dist/web.mjs")], {
          cwd: repoRoot,
          env: { ...env, ...options.webEnv, PORT: port, ZAPHOD_ORIGINS: b } as unknown as NodeJS.ProcessEnv,
          stdio: ["ignore", logFd, logFd],
        });
        webs.push(child);
        closeSync(logFd);
        const until = Date.now() + 60_000;
        for (;;) {
          if (child.exitCode !== null)
            throw new Error(`web instance ${i} exited with ${child.exitCode} (see ${webDir})`);
          const ok = await fetch(`${b}/api/health`)
            .then((r) => r.ok)
            .catch(() => false);
          if (ok) break;
          if (Date.now() > until)
            throw new Error(`web instance ${i} did not answer within 60 s (see ${webDir})`);
          await sleep(250);
        }
      }),
    );
    const manifest = JSON.parse(
      readFileSync(join(repoRoot, ".next/server/server-reference-manifest.json"), "utf8"),
    ) as { node: Record<string, { exportedName: string }> };
    const ticketActionId = Object.entries(manifest.node).find(
      ([, v]) => v.exportedName === "openConsoleAction",
    )?.[0];
    if (!ticketActionId) throw new Error("no openConsoleAction in this build");
    return {
      base,
      bases,
      harness,
      web: webs[0] as ChildProcess,
      webs,
      webLog,
      ticketActionId,
      async vmHost(vm) {
        const runDir = join(harness.dataDir, "vms", vm, "run");
        const { uid, gid } = await stat(runDir); // the VM user's 0700 run dir
        return { uidGid: `${uid}:${gid}`, tmuxSocket: join(runDir, "tmux.sock"), runDir };
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** A single-use console ticket from the console page's server action, with the member's session. */
export async function consoleTicket(
  stack: PanelStack,
  cookie: string,
  vm: string,
): Promise<{ url: string; token: string }> {
  const res = await fetch(`${stack.base}/vms/${vm}/console`, {
    method: "POST",
    headers: {
      cookie,
      origin: stack.base,
      "next-action": stack.ticketActionId,
      "content-type": "text/plain;charset=UTF-8",
      accept: "text/x-component",
    },
    body: JSON.stringify([{ vmName: vm }]),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const token = /"token":"([\w-]{43})"/.exec(text)?.[1];
  if (!token) throw new Error(`no console ticket for ${vm} (${res.status}): ${text.slice(0, 200)}`);
  return { url: `${stack.base.replace("http", "ws")}/ws/console?vm=${vm}`, token };
}

/** VmRSS of a process in KiB (/proc/<pid>/status), or NaN when it is gone. */
export async function rssKiB(pid: number | undefined): Promise<number> {
  if (!pid) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
}
