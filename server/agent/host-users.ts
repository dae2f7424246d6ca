/**
 * One host user per member when root (`<prefix><owner>`, system user, no home, nologin): VMs
 * run as that user. Unprivileged, every VM runs as the invoking user.
 */

import { readdir, readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { OWNER_PATTERN } from "../protocol/names";
import type { AgentConfig } from "./config";
import { type RunAs, run } from "./exec";

export interface HostUser extends RunAs {
  name: string;
}

function currentUser(): HostUser {
  return { name: userInfo().username, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

export function hostUserName(config: AgentConfig, owner: string): string {
  if (!OWNER_PATTERN.test(owner)) throw new Error(`refusing owner ${JSON.stringify(owner)}`);
  return `${config.hostUserPrefix}${owner}`;
}

export async function lookupHostUser(config: AgentConfig, owner: string): Promise<HostUser | null> {
  if (!config.privileged) return currentUser();
  const name = hostUserName(config, owner);
  const result = await run(["getent", "passwd", "--", name], { allowFailure: true });
  if (result.code !== 0) return null;
  const fields = result.stdout.trim().split(":");
  return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Returns the VM user for an owner, creating it when missing; `created` says whether it did. */
export async function ensureHostUser(
  config: AgentConfig,
  owner: string,
): Promise<{ user: HostUser; created: boolean }> {
  const existing = await lookupHostUser(config, owner);
  if (existing) return { user: existing, created: false };
  const name = hostUserName(config, owner);
  await run([
    "useradd",
    "--system",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    "--user-group",
    "--",
    name,
  ]);
  const user = await lookupHostUser(config, owner);
  if (!user) throw new Error(`useradd did not create ${name}`);
  return { user, created: true };
}

/** Pids of every process whose real or effective uid is `uid` (from /proc). */
async function pidsOfUid(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (ids && (Number(ids[1]) === uid || Number(ids[2]) === uid)) pids.push(Number(entry));
  }
  return pids;
}

/**
 * Deletes the owner's host user once their last VM is gone. `userdel` refuses while any process
 * of the user lives, and a stopped VM's helpers (tmux server, the log pipe, UML's own helper
 * processes) can take a moment to go under load: the uid is dedicated to this owner's VMs, so
 * whatever still runs as it is ended (TERM, then KILL), within a bounded wait.
 */
export async function deleteHostUser(config: AgentConfig, owner: string): Promise<void> {
  if (!config.privileged) return;
  const user = await lookupHostUser(config, owner);
  if (!user || user.uid === 0) return;
  const started = Date.now();
  for (;;) {
    const pids = await pidsOfUid(user.uid);
    if (pids.length === 0) break;
    const elapsed = Date.now() - started;
    if (elapsed > 15_000) break;
    for (const pid of pids) {
      try {
        process.kill(pid, elapsed > 5_000 ? "SIGKILL" : "SIGTERM");
      } catch {
        // gone already
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const result = await run(["userdel", "--", user.name], { allowFailure: true });
  if (result.code !== 0) {
    console.error(`[agent] userdel ${user.name} failed (exit ${result.code}); the user is left in place`);
  }
}
