/**
 * Integration-test harness: a real agent on a temp data dir and socket, with a unique host-user
 * prefix and socket group; `cleanup()` stops every VM, tmux server and agent it started (by
 * pid), deletes the host users and group it created, and removes the temp dir — also on failure.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AgentClient, createAgentClient } from "../../web/agent/client";
import { removeConfinementOf } from "../confine/vm-confinement";
import { baseEnv, run } from "../exec";
import { buildBusyboxImage } from "../images/build-busybox";
import { killVmsOf } from "./stop-vms";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export interface Harness {
  root: string;
  dataDir: string;
  socketPath: string;
  group: string;
  prefix: string;
  image: string;
  env: Record<string, string>;
  agent: ChildProcess | null;
  agentLog: string[];
  client: AgentClient;
  startAgent(): Promise<void>;
  killAgent(signal?: NodeJS.Signals): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createHarness(options: { confine?: boolean } = {}): Promise<Harness> {
  const tag = randomBytes(3).toString("hex");
  const root = await mkdtemp("/tmp/zaphod-itest-");
  await chmod(root, 0o755); // so "another user" reaches the socket directory and is stopped by its mode
  const dataDir = join(root, "data");
  const socketPath = join(root, "sock", "agent.sock");
  const prefix = `z${tag.slice(0, 4)}-`;
  const group = `zt${tag}`;
  const image = "busybox-test";
  const env = {
    ...baseEnv(),
    ZAPHOD_DATA_DIR: dataDir,
    ZAPHOD_AGENT_SOCKET: socketPath,
    ZAPHOD_SOCKET_GROUP: group,
    ZAPHOD_HOST_USER_PREFIX: prefix,
    ZAPHOD_AUTOSTART_CONCURRENCY: "2",
    // The agent's default (confined when root) unless a harness asks, or ZAPHOD_CONFINE=off for all.
    ZAPHOD_CONFINE: (options.confine ?? process.env.ZAPHOD_CONFINE !== "off") ? "on" : "off",
  };
  await buildBusyboxImage({ imagesDir: join(dataDir, "images"), name: image, log: () => undefined });

  const h: Harness = {
    root,
    dataDir,
    socketPath,
    group,
    prefix,
    image,
    env,
    agent: null,
    agentLog: [],
    client: createAgentClient({ socketPath, reconnectMs: 100 }),
    async startAgent() {
      const child = spawn(process.execPath, ["--import", "tsx", "server/agent/main.ts"], {
        cwd: repoRoot,
        env: env as unknown as NodeJS.ProcessEnv,
        stdio: ["ignore", "ignore", "pipe"],
        detached: true,
      });
      h.agent = child;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`agent did not start:\n${h.agentLog.join("")}`)),
          30_000,
        );
        child.stderr?.setEncoding("utf8");
        child.stderr?.on("data", (text: string) => {
          h.agentLog.push(text);
          if (process.env.ZAPHOD_TEST_VERBOSE) process.stderr.write(text);
          if (text.includes("listening on")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`agent exited with ${code}:\n${h.agentLog.join("")}`));
        });
      });
    },
    async killAgent(signal = "SIGKILL") {
      const child = h.agent;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
      h.agent = null;
    },
    async cleanup() {
      h.client.close();
      await h.killAgent("SIGKILL").catch(() => undefined);
      // Every UML started on this data dir (by pid), then every tmux server holding one of its sockets.
      const vms = await killVmsOf(dataDir);
      // The agent confines VMs when root: their cgroups and network namespaces go too.
      if (process.getuid?.() === 0) await removeConfinementOf(dataDir, vms);
      const passwd = await readFile("/etc/passwd", "utf8");
      for (const line of passwd.split("\n")) {
        const user = line.split(":")[0] ?? "";
        if (user.startsWith(prefix)) await run(["userdel", "--", user], { allowFailure: true });
      }
      await run(["groupdel", "--", group], { allowFailure: true });
      await rm(root, { recursive: true, force: true });
    },
  };
  return h;
}

/** Runs a command as `nobody` (another local user), optionally with one extra group. */
export async function runAsNobody(argv: string[], extraGroup?: string) {
  const groups = extraGroup ? [`--groups=${extraGroup}`] : ["--clear-groups"];
  return run(["setpriv", "--reuid=nobody", "--regid=nogroup", ...groups, "--", ...argv], {
    allowFailure: true,
    timeoutMs: 15_000,
  });
}
