/**
 * Test support for the itests that boot real VMs on the agent's bridge (network.itest.ts,
 * guests.itest.ts): the member's key, VMs created with a pool address and that key, OpenSSH into a
 * guest from the bridge's namespace with StrictHostKeyChecking=yes against the host key vm.access
 * answers, and the node servers of net-tool.mjs started inside a test namespace. Every wait is
 * bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { baseEnv, run } from "../../exec";
import type { Harness } from "../../testing/agent-harness";

export const NET_TOOL = fileURLToPath(new URL("./net-tool.mjs", import.meta.url));

/** Makes the member's ed25519 key in the harness's root; returns its file and public line. */
export async function memberKey(h: Harness): Promise<{ keyFile: string; line: string }> {
  const keyFile = join(h.root, "member-key");
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sam@laptop", "-f", keyFile]);
  return { keyFile, line: (await readFile(`${keyFile}.pub`, "utf8")).trim() };
}

/** Creates each VM (name → IPv4 from the pool) owned by sam, root reached with the member's key. */
export async function createNetVms(h: Harness, vms: Record<string, string>, keyLine: string): Promise<void> {
  for (const [name, ipv4] of Object.entries(vms)) {
    await h.client.run("vm.create", {
      name,
      owner: "sam",
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      ipv4,
    });
    await h.client.call("vm.setAccess", {
      name,
      access: { sshAuthorizedKeys: [keyLine], rootPasswordHash: null },
    });
  }
}

/** OpenSSH with the member's key, trusting only the host key in `known`. */
export function sshArgv(keyFile: string, known: string, rest: string[], connectTimeout = 10): string[] {
  const options = [
    "StrictHostKeyChecking=yes",
    `UserKnownHostsFile=${known}`,
    "BatchMode=yes",
    `ConnectTimeout=${connectTimeout}`,
  ];
  return ["ssh", ...options.flatMap((o) => ["-o", o]), "-i", keyFile, ...rest];
}

/** Runs `command` as root in the guest over SSH from the bridge's namespace `netns`. */
export async function guestSsh(
  h: Harness,
  guest: { netns: string; keyFile: string; name: string; ipv4: string },
  command: string,
  timeoutMs = 30_000,
) {
  const access = await h.client.call("vm.access", { name: guest.name });
  const known = join(h.root, `known-${guest.name}`);
  const key = access.hostKeys.find((k) => k.type === "ed25519");
  await writeFile(known, `${guest.ipv4} ${key?.publicKey.trim()}\n`);
  const argv = sshArgv(guest.keyFile, known, [`root@${guest.ipv4}`, command], 5);
  return run(["ip", "netns", "exec", guest.netns, ...argv], { allowFailure: true, timeoutMs });
}

/** Waits (at most `tries` seconds or so) until the guest answers `echo hi` over SSH. */
export async function waitForGuestSsh(
  h: Harness,
  guest: { netns: string; keyFile: string; name: string; ipv4: string },
  tries = 20,
) {
  let out = { code: 1 as number | null, stdout: "", stderr: "" };
  for (let i = 0; i < tries && out.stdout.trim() !== "hi"; i++) {
    out = await guestSsh(h, guest, "echo hi");
    if (out.stdout.trim() !== "hi") await new Promise((r) => setTimeout(r, 1000));
  }
  return out;
}

/**
 * Starts a net-tool.mjs server inside `netns` and waits (10 s at most) until it listens; the child
 * goes into `children` first, so the caller's cleanup stops it (by pid) even when it never listened.
 */
export async function startNetTool(netns: string, args: string[], children: ChildProcess[]): Promise<void> {
  const child = spawn("ip", ["netns", "exec", netns, "node", NET_TOOL, ...args], {
    env: baseEnv() as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server ${args.join(" ")} did not listen in 10 s`)),
      10_000,
    );
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => reject(new Error(`server ${args.join(" ")} exited ${code}`)));
  });
}
