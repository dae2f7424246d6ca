/**
 * Every VM boots with its seed disk (issue 12 point 3; seed-disk.ts has the format): made by the
 * agent before each start from what the agent itself holds — the VM's name as its hostname, its
 * own SSH host keys (made once, kept in `<vm>/host-keys/`, root 0700), and, once the panel has
 * set them, root's SSH keys and password hash and the VM's addresses (vm.json). Written to
 * `<vm>/seed.iso` in the agent's own VM directory, root-owned, readable by the VM's group only
 * (the host keys are secret), attached read-only as the fourth disk (`/dev/ubdd`).
 */
import { chmod, chown, mkdir } from "node:fs/promises";
import type { SeedHostKey } from "./seed-disk";
import { ensureHostKeys, hostKeyFingerprint, writeSeedDisk } from "./seed-disk";
import type { Runtime } from "./vm-manager";

export interface HostKeyInfo {
  type: SeedHostKey["type"];
  fingerprint: string;
  publicKey: string;
}

/** Writes the VM's seed disk; returns its instance-id and the host keys' fingerprints. */
export async function refreshSeed(
  runtime: Runtime,
  privileged: boolean,
): Promise<{ instanceId: string; hostKeys: HostKeyInfo[] }> {
  const { config, paths, user } = runtime;
  await mkdir(paths.hostKeysDir, { recursive: true, mode: 0o700 });
  const hostKeys = await ensureHostKeys(paths.hostKeysDir);
  const { instanceId } = await writeSeedDisk(paths.seedDisk, {
    hostname: config.name,
    network: null,
    sshAuthorizedKeys: [],
    rootPasswordHash: null,
    hostKeys,
  });
  if (privileged) {
    await chown(paths.seedDisk, 0, user.gid);
    await chmod(paths.seedDisk, 0o640);
  } else await chmod(paths.seedDisk, 0o600);
  return {
    instanceId,
    hostKeys: hostKeys.map((k) => ({
      type: k.type,
      fingerprint: hostKeyFingerprint(k.publicKey),
      publicKey: k.publicKey,
    })),
  };
}
