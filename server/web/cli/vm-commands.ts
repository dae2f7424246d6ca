/**
 * CLI commands that reach the agent: `provision` and `demo-setup` (used by scripts/up.sh). They go
 * through the VM service like the panel does (Task rows, audit with the actor "cli").
 */
import type { HostNetworkInfo, VmStatus } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { type Caller, callerSelect } from "../dal/caller";
import { unsafeGetTaskView } from "../dal/tasks";
import { unsafeCreateUser, unsafeFindUserByUsername } from "../dal/unsafe-create-user";
import { unsafeGetVmByName } from "../dal/vms";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { skipTaskRecoveryInThisProcess } from "../tasks/pipeline";
import { addSshKey, listOwnSshKeys } from "../vms/guest-access";
import { unsafePowerAction, unsafeProvisionVm } from "../vms/service";
import { parseSshPublicKey } from "../vms/ssh-keys";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type ProvisionOptions = {
  image?: string;
  memoryMiB?: number;
  storageGiB?: number;
  swapMiB?: number;
  autostart?: boolean;
  start?: boolean;
  /** "local", a joined host, or unset: the most headroom. */
  host?: string;
};

async function pickImage(wanted?: string, host = "local"): Promise<string> {
  const { images } = await getAgent().forHost(host).call("image.list", {});
  if (wanted) {
    if (!images.some((i) => i.name === wanted))
      throw new Error(`no image ${wanted} on the host (npm run image:busybox -- --name ${wanted})`);
    return wanted;
  }
  const busybox = images.find((i) => i.kind === "busybox") ?? images[0];
  if (!busybox)
    throw new Error("no image on the host: build one first (npm run image:busybox -- --name busybox-1)");
  return busybox.name;
}

async function waitTask(taskId: string, timeoutMs = 300_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const t = await unsafeGetTaskView(taskId);
    if (t && t.status !== "running" && t.status !== "queued") {
      if (t.status !== "succeeded") throw new Error(`${t.kind} ${t.status}: ${t.error ?? ""}`);
      return;
    }
    await sleep(500);
  }
  throw new Error("timed out waiting for the task");
}

async function statusOrNull(name: string): Promise<VmStatus | null> {
  try {
    return await getAgent().call("vm.status", { name });
  } catch (e) {
    if ((e as { code?: string }).code === "not-found") return null;
    throw e;
  }
}

/** Provisions `name` for `owner` (and starts it unless start === false); waits for the end. */
export async function cliProvision(owner: string, name: string, o: ProvisionOptions): Promise<void> {
  skipTaskRecoveryInThisProcess();
  const user = await unsafeFindUserByUsername(owner);
  if (user?.status !== "active") throw new Error(`${owner} is not an active account`);
  const image = await pickImage(o.image, o.host && o.host !== "auto" ? o.host : "local");
  const { taskId } = await unsafeProvisionVm({
    ownerId: user.id,
    name,
    image,
    memoryMiB: o.memoryMiB ?? 128,
    storageGiB: o.storageGiB ?? 8,
    swapMiB: o.swapMiB ?? 128,
    autostart: o.autostart ?? false,
    startNow: o.start ?? true,
    host: o.host,
  });
  await waitTask(taskId);
}

/**
 * Idempotent demo: admin `admin` and member `demo` (active) if missing, the VM `demo` for `demo`
 * from a busybox image if missing, started if stopped; returns when it is running.
 */
export async function cliDemoSetup(
  adminPassword: string,
  memberPassword: string,
  log: (l: string) => void,
  options: { sshKeys?: string[]; sshPort?: number } = {},
) {
  skipTaskRecoveryInThisProcess();
  if (!(await unsafeFindUserByUsername("admin"))) {
    await unsafeCreateUser("cli", {
      username: "admin",
      email: "admin@example.org",
      name: "Demo Admin",
      password: adminPassword,
      role: "admin",
      status: "active",
    });
    log("created admin admin");
  }
  if (!(await unsafeFindUserByUsername("demo"))) {
    await unsafeCreateUser("cli", {
      username: "demo",
      email: "demo@example.org",
      name: "Demo Member",
      password: memberPassword,
      role: "member",
      status: "active",
    });
    log("created member demo");
  }
  const demo = await unsafeFindUserByUsername("demo");
  if (!demo) throw new Error("the demo member is missing");
  // Before the VM is made, so its first boot has them (up.sh passes its demo key and yours).
  await addDemoKeys(demo.id, options.sshKeys ?? [], log);
  const onHost = await statusOrNull("demo");
  let row = await unsafeGetVmByName("demo");
  if (!row && onHost) {
    // The host has it (e.g. the database was reset): adopt it instead of failing.
    await getDb().vm.create({
      data: {
        id: newId(),
        name: "demo",
        ownerId: demo.id,
        image: onHost.image,
        memoryMiB: onHost.memoryMiB,
        storageGiB: onHost.storageGiB,
        swapMiB: onHost.swapMiB,
        autostart: onHost.autostart,
      },
    });
    log("adopted the host's VM demo");
    row = await unsafeGetVmByName("demo");
  }
  if (!row) {
    log("provisioning VM demo (busybox)…");
    // Autostart, as the seed's rc.local did: the demo VM comes back when the host boots.
    await cliProvision("demo", "demo", {
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 64,
      start: true,
      autostart: true,
    });
  } else {
    const status = await statusOrNull("demo");
    if (status && (status.state === "stopped" || status.state === "crashed")) {
      log("starting VM demo…");
      const { taskId } = await unsafePowerAction(row, "start");
      await waitTask(taskId);
    }
  }
  const until = Date.now() + 180_000;
  for (;;) {
    const s = await statusOrNull("demo");
    if (s?.state === "running" && s.stage && s.stage !== "booting") {
      log(`VM demo is running (${s.stage})`);
      if (options.sshPort) await forwardDemoSsh(options.sshPort, log);
      return;
    }
    if (Date.now() > until) throw new Error(`VM demo is not up (state ${s?.state ?? "missing"})`);
    await sleep(500);
  }
}

/** The demo member's SSH keys: each one not on the account yet is added (it reaches the VM at its next boot). */
async function addDemoKeys(userId: string, keys: string[], log: (l: string) => void): Promise<void> {
  const user = await getDb().user.findUnique({ where: { id: userId }, select: callerSelect });
  if (!user) return;
  const caller: Caller = {
    ...user,
    role: user.role as Caller["role"],
    status: user.status as Caller["status"],
  };
  const have = new Set((await listOwnSshKeys(caller)).map((k) => k.fingerprint));
  for (const [i, publicKey] of keys.entries()) {
    let fingerprint: string;
    try {
      fingerprint = parseSshPublicKey(publicKey).fingerprint;
    } catch (error) {
      log(`SSH key ${i + 1} skipped: ${(error as Error).message}`);
      continue;
    }
    if (have.has(fingerprint)) continue;
    const comment = publicKey.trim().split(/\s+/)[2] ?? "";
    const label = (comment || `key ${i + 1}`).slice(0, 60);
    await addSshKey(caller, { label, publicKey });
    have.add(fingerprint);
    log(`added SSH key ${fingerprint} (${label}) for demo`);
  }
}

/** `ssh -p PORT root@<forward address>` reaches the demo VM (issue 12 point 7): a forward to its port 22. */
async function forwardDemoSsh(port: number, log: (l: string) => void): Promise<void> {
  let net: HostNetworkInfo;
  try {
    net = await getAgent().call("host.network", {});
  } catch (error) {
    log(`no SSH forward for demo: ${(error as Error).message}`);
    return;
  }
  const existing = net.forwards.find((f) => f.name === "demo" && f.vmPort === 22);
  if (existing) {
    log(`SSH to demo: ssh -p ${existing.hostPort} root@${net.forwardAddress}`);
    return;
  }
  try {
    const after = await getAgent().call("forward.add", { hostPort: port, name: "demo", vmPort: 22 });
    log(`SSH to demo: ssh -p ${port} root@${after.forwardAddress}`);
  } catch (error) {
    log(`no SSH forward for demo on port ${port}: ${(error as Error).message}`);
  }
}
