/**
 * The e2e run's own host agent: a data dir and socket in the test state directory (e2e/env.ts
 * TEST_STATE_DIR, which the VMs' host users can reach wherever the clone sits), a unique
 * host-user prefix and socket group (`zt<hex>-`), the busybox image built there. `cleanup` stops
 * every VM (by pid), tmux holder and the agent, and deletes the host users and group it created;
 * it runs from the global teardown (also when tests fail) and before the next run starts.
 *
 *   tsx e2e/agent-stack.ts start      (e2e/serve.sh; prints nothing on success)
 *   tsx e2e/agent-stack.ts cleanup
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { deleteNetns } from "../server/agent/confine/netns";
import { removeConfinementOf } from "../server/agent/confine/vm-confinement";
import { baseEnv, run } from "../server/agent/exec";
import { buildBusyboxImage } from "../server/agent/images/build-busybox";
import { killVmsOf } from "../server/agent/testing/stop-vms";
import {
  AGENT_DATA_DIR,
  AGENT_SOCKET,
  AGENT_STATE_FILE,
  E2E_IMAGE,
  IS_ROOT,
  RELEASE_DIR,
  WEB_STATE_DIR,
} from "./env";

/**
 * webUser: the run's unprivileged web user (root runs only), in the socket group. netns: the
 * network namespace the run's VM network lives in (root runs only; made by the agent, removed by
 * the cleanup): nothing of it is in the host's own namespace.
 */
type State = {
  pid: number | null;
  prefix: string;
  group: string;
  dataDir: string;
  webUser: string | null;
  netns?: string | null;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readFileOr(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

function readState(): State | null {
  try {
    return JSON.parse(readFileSync(AGENT_STATE_FILE, "utf8")) as State;
  } catch {
    return null;
  }
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startAgent(): Promise<State> {
  const tag = randomBytes(2).toString("hex");
  const state: State = {
    pid: null,
    prefix: `zt${tag}-`,
    group: `zt${tag}`,
    dataDir: AGENT_DATA_DIR,
    // Not under the host-user prefix (`zt<hex>-`), so no member's host user can ever be named so.
    webUser: IS_ROOT ? `zt${tag}web` : null,
    netns: IS_ROOT ? `zt${tag}-net` : null,
  };
  mkdirSync(AGENT_DATA_DIR, { recursive: true, mode: 0o755 });
  // Written first: a failure from here on is still cleaned up.
  writeFileSync(AGENT_STATE_FILE, JSON.stringify(state));
  // The image is kept between runs of a checkout, and made again when its builder changed.
  const imagesDir = path.join(AGENT_DATA_DIR, "images");
  const builder = createHash("sha256")
    .update(readFileSync("server/agent/images/build-busybox.ts"))
    .digest("hex");
  const stamp = path.join(imagesDir, `.${E2E_IMAGE}.builder`);
  const current = existsSync(path.join(imagesDir, `${E2E_IMAGE}.ext4`)) && readFileOr(stamp) === builder;
  if (!current) {
    for (const ext of ["ext4", "json"])
      await rm(path.join(imagesDir, `${E2E_IMAGE}.${ext}`), { force: true });
    await buildBusyboxImage({ imagesDir, name: E2E_IMAGE, log: () => undefined });
    writeFileSync(stamp, builder);
  }
  mkdirSync(".data/e2e", { recursive: true });
  const logFd = openSync(".data/e2e/agent.log", "a");
  // The built agent (dist/agent.mjs of the release serve.sh installed), as production runs it:
  // root never runs TypeScript through tsx, whose compile cache sits in world-writable /tmp.
  const agentJs = path.join(RELEASE_DIR, "dist/agent.mjs");
  if (!existsSync(agentJs)) throw new Error(`${agentJs} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [agentJs], {
    env: baseEnv({
      ZAPHOD_DATA_DIR: AGENT_DATA_DIR,
      ZAPHOD_AGENT_SOCKET: AGENT_SOCKET,
      ZAPHOD_SOCKET_GROUP: state.group,
      ZAPHOD_HOST_USER_PREFIX: state.prefix,
      ...(state.netns ? { ZAPHOD_NET_NETNS: state.netns } : {}),
    }) as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", logFd, logFd],
    detached: true,
  });
  closeSync(logFd);
  child.unref();
  state.pid = child.pid ?? null;
  writeFileSync(AGENT_STATE_FILE, JSON.stringify(state));
  const until = Date.now() + 60_000;
  while (!(await canConnect(AGENT_SOCKET))) {
    if (child.exitCode !== null)
      throw new Error(`e2e agent exited with ${child.exitCode} (see .data/e2e/agent.log)`);
    if (Date.now() > until) throw new Error("e2e agent did not listen within 60 s");
    await sleep(200);
  }
  if (state.webUser) await createWebUser(state.webUser, state.group);
  return state;
}

/** A web tier or CLI of an earlier run that outlived it (its user could not be deleted otherwise): by pid. */
async function killProcessesOf(user: string): Promise<void> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const uid = passwd
    .split("\n")
    .find((l) => l.split(":")[0] === user)
    ?.split(":")[2];
  if (!uid) return;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (status.match(/^Uid:\s+(\d+)/m)?.[1] === uid) {
      try {
        process.kill(Number(entry), "SIGKILL");
      } catch {}
    }
  }
  await sleep(200);
}

/** The web tier's user: a system user without a home or a shell, its group the socket's (as up.sh's `zaphod`). */
async function createWebUser(user: string, group: string): Promise<void> {
  await run([
    "useradd",
    "--system",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    "--gid",
    group,
    "--",
    user,
  ]);
  await rm(WEB_STATE_DIR, { recursive: true, force: true });
  mkdirSync(WEB_STATE_DIR, { mode: 0o700 });
  await run(["chown", "--", `${user}:${group}`, WEB_STATE_DIR]);
}

/** The web user's uid and gid (null without root), for files it must read (a test's TLS key). */
export function webUserIds(): { uid: number; gid: number } | null {
  const user = readState()?.webUser;
  if (!IS_ROOT || !user) return null;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === user);
  const [, , uid, gid] = line?.split(":") ?? [];
  if (!uid || !gid) throw new Error(`the e2e web user ${user} is missing`);
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * `argv` as the run's web user (setpriv, as up.sh starts the web tier without systemd): the web
 * tier, the host CLI and anything else that opens the web tier's database. Unchanged without root.
 */
export function asWebUser(argv: string[]): string[] {
  const state = readState();
  if (!IS_ROOT) return argv;
  if (!state?.webUser) throw new Error("the e2e stack is not running (no web user): e2e/serve.sh starts it");
  return ["setpriv", `--reuid=${state.webUser}`, `--regid=${state.group}`, "--init-groups", "--", ...argv];
}

export async function cleanupAgent(): Promise<void> {
  const state = readState();
  if (!state) return;
  if (state.pid) {
    try {
      process.kill(state.pid, "SIGKILL");
    } catch {}
  }
  const names = await killVmsOf(state.dataDir);
  await sleep(300);
  // Confined VMs' cgroups and network namespaces outlive their processes: removed with the VMs.
  await removeConfinementOf(state.dataDir, names);
  if (state.netns) await deleteNetns(state.netns).catch(() => undefined);
  const passwd = await readFile("/etc/passwd", "utf8");
  if (state.webUser) await killProcessesOf(state.webUser);
  await rm(WEB_STATE_DIR, { recursive: true, force: true });
  for (const line of passwd.split("\n")) {
    const user = line.split(":")[0] ?? "";
    if (user.startsWith(state.prefix) || (state.webUser && user === state.webUser))
      await run(["userdel", "--", user], { allowFailure: true });
  }
  await run(["groupdel", "--", state.group], { allowFailure: true });
  // The next run starts from no VMs; the built image is kept (it never changes within a checkout).
  for (const entry of await readdir(state.dataDir).catch(() => [] as string[]))
    if (entry !== "images") await rm(path.join(state.dataDir, entry), { recursive: true, force: true });
  await rm(AGENT_STATE_FILE, { force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cmd = process.argv[2];
  try {
    if (cmd === "start") await startAgent();
    else if (cmd === "cleanup") await cleanupAgent();
    // NUL-separated, for serve.sh: the prefix that runs a command as the web user.
    else if (cmd === "as-web")
      process.stdout.write(
        asWebUser([])
          .map((a) => `${a}\0`)
          .join(""),
      );
    else throw new Error("usage: tsx e2e/agent-stack.ts start|cleanup|as-web");
    process.exit(0);
  } catch (e) {
    console.error(`e2e agent: ${(e as Error).message}`);
    process.exit(1);
  }
}
