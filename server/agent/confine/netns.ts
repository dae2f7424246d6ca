/**
 * The VM's own network namespace, made by the agent (`ip netns add`, so it lives in
 * /run/netns/<name> and outlives both the agent and the VM's processes; the networking work adds
 * the VM's tap and a veth to the bridge there). Only loopback is in it, up: the VM's host user
 * reaches none of the host's 127.0.0.1 services nor its abstract Unix sockets (those are per
 * network namespace). The agent's own uml_mconsole must run in it too: the client binds an
 * abstract reply address, which UML in another namespace cannot answer (measured: the client
 * hangs), so it runs inside the VM's sandbox (vm-confinement.ts asVmUser).
 */
import { access } from "node:fs/promises";
import { run } from "../exec";

const NETNS_DIR = "/run/netns";

export function netnsPath(name: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,47}$/.test(name)) throw new Error(`bad netns name ${JSON.stringify(name)}`);
  return `${NETNS_DIR}/${name}`;
}

export async function netnsExists(name: string): Promise<boolean> {
  return access(netnsPath(name)).then(
    () => true,
    () => false,
  );
}

/** Creates the namespace when missing and brings its loopback up; returns its path. */
export async function ensureNetns(name: string): Promise<string> {
  const path = netnsPath(name);
  if (!(await netnsExists(name))) await run(["ip", "netns", "add", name], { timeoutMs: 10_000 });
  await run(["ip", "-n", name, "link", "set", "lo", "up"], { timeoutMs: 10_000 });
  return path;
}

export async function deleteNetns(name: string): Promise<void> {
  if (await netnsExists(name)) await run(["ip", "netns", "delete", name], { timeoutMs: 10_000 });
}
