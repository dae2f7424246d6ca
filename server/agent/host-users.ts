/**
 * One host user per member when root (`<prefix><owner>`, system user, no home, nologin): VMs
 * run as that user. Unprivileged, every VM runs as the invoking user.
 */

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

export async function deleteHostUser(config: AgentConfig, owner: string): Promise<void> {
  if (!config.privileged) return;
  await run(["userdel", "--", hostUserName(config, owner)], { allowFailure: true });
}
