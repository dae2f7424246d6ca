/**
 * Every VM boots with its seed disk (issue 12 point 3; seed-disk.ts has the format): made by the
 * agent before each start from what the agent itself holds — the VM's name as its hostname, its
 * own SSH host keys (made once, kept in `<vm>/host-keys/`, root 0700), and root's SSH keys and
 * password hash as the panel last set them (`vm.setAccess`, kept in `<vm>/access.json`, root
 * 0600: vm.json is world-readable). Written to `<vm>/seed.iso` in the agent's own VM directory,
 * root-owned, readable by the VM's group only (the host keys are secret), attached read-only as
 * the fourth disk (`/dev/ubdd`). `<vm>/seed-booted` holds the instance-id the running boot got, so
 * the panel can say a change waits for the next boot.
 */
import { chmod, chown, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { GuestAccess, type VmAccessInfo } from "../protocol/agent";
import { currentBootLog } from "./boot-log";
import { readSmallFileNoFollow, readTail } from "./safe-fs";
import {
  ensureHostKeys,
  hostKeyFingerprint,
  instanceIdOf,
  type SeedNetwork,
  type SeedSpec,
  seedFiles,
  writeSeedDisk,
} from "./seed-disk";
import type { Runtime } from "./vm-manager";

let networkOf: (runtime: Runtime) => Promise<SeedNetwork | null> = async () => null;

/** Set by the networking core (net/network.ts): the VM's addresses, gateway and DNS for its seed. */
export function setSeedNetwork(of: (runtime: Runtime) => Promise<SeedNetwork | null>): void {
  networkOf = of;
}

const NO_ACCESS: GuestAccess = { sshAuthorizedKeys: [], rootPasswordHash: null };

async function readAccess(runtime: Runtime): Promise<GuestAccess> {
  try {
    return GuestAccess.parse(JSON.parse(await readSmallFileNoFollow(runtime.paths.accessFile)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return NO_ACCESS;
    throw error;
  }
}

async function specOf(runtime: Runtime): Promise<SeedSpec> {
  const access = await readAccess(runtime);
  await mkdir(runtime.paths.hostKeysDir, { recursive: true, mode: 0o700 });
  return {
    hostname: runtime.config.name,
    network: await networkOf(runtime),
    sshAuthorizedKeys: access.sshAuthorizedKeys,
    rootPasswordHash: access.rootPasswordHash,
    hostKeys: await ensureHostKeys(runtime.paths.hostKeysDir),
  };
}

async function writeSeed(runtime: Runtime, privileged: boolean): Promise<string> {
  const { paths, user } = runtime;
  const { instanceId } = await writeSeedDisk(paths.seedDisk, await specOf(runtime));
  if (privileged) {
    await chown(paths.seedDisk, 0, user.gid);
    await chmod(paths.seedDisk, 0o640);
  } else await chmod(paths.seedDisk, 0o600);
  return instanceId;
}

/** Writes the VM's seed disk for the boot about to start and records its instance-id. */
export async function refreshSeed(runtime: Runtime, privileged: boolean): Promise<{ instanceId: string }> {
  const instanceId = await writeSeed(runtime, privileged);
  await writeRootFile(runtime.paths.seedBooted, `${instanceId}\n`, 0o644);
  return { instanceId };
}

/**
 * Keeps what the guest gets at its next boot (the caller holds the VM's lock) and rewrites the
 * seed disk at once, so a reboot from inside the guest applies it too, not only a start by the
 * agent.
 */
export async function setAccess(
  runtime: Runtime,
  access: GuestAccess,
  running: boolean,
  privileged: boolean,
): Promise<VmAccessInfo> {
  await writeRootFile(runtime.paths.accessFile, `${JSON.stringify(GuestAccess.parse(access))}\n`, 0o600);
  await writeSeed(runtime, privileged);
  return accessInfo(runtime, running);
}

/**
 * The seed the running boot applied: the last `seed: instance-id …` line the guest printed on
 * the current boot's console (the busybox image prints it; a reboot from inside the guest
 * continues the same log), else what the agent gave the boot it started.
 */
async function bootedInstanceId(runtime: Runtime): Promise<string | null> {
  const log = await currentBootLog(runtime);
  if (log) {
    const tail = (await readTail(log.file, 1024 * 1024).catch(() => Buffer.alloc(0))).toString("latin1");
    const seen = [...tail.matchAll(/seed: instance-id (zaphod-[0-9a-f]{16})/g)].at(-1)?.[1];
    if (seen) return seen;
  }
  return readSmallFileNoFollow(runtime.paths.seedBooted).then(
    (t) => t.trim(),
    () => null,
  );
}

export async function accessInfo(runtime: Runtime, running: boolean): Promise<VmAccessInfo> {
  const spec = await specOf(runtime);
  const next = instanceIdOf(seedFiles(spec));
  const booted = running ? await bootedInstanceId(runtime) : null;
  return {
    hostKeys: spec.hostKeys.map((k) => ({
      type: k.type,
      fingerprint: hostKeyFingerprint(k.publicKey),
      publicKey: k.publicKey,
    })),
    sshKeyCount: spec.sshAuthorizedKeys.length,
    rootPasswordSet: spec.rootPasswordHash !== null,
    appliesAtNextBoot: running && booted !== next,
  };
}

/** A root file in the agent's own VM directory (nobody else can write there), replaced atomically. */
async function writeRootFile(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, text, { mode, flag: "wx" });
  await rename(tmp, path);
}
