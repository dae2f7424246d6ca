/**
 * Removes what confinement leaves on the host for every VM under a data directory: the VMs'
 * cgroups and network namespaces (which live as long as the VM, so a test that deletes its VMs'
 * users must remove them too). For test cleanups: `tsx scripts/remove-confinement.ts DATA_DIR`.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { removeConfinementOf } from "../server/agent/confine/vm-confinement";

export async function removeConfinementUnder(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const names = await readdir(path.join(dataDir, "vms")).catch(() => [] as string[]);
  await removeConfinementOf(dataDir, names);
}

const dataDir = process.argv[2];
if (dataDir && import.meta.url.endsWith(path.basename(process.argv[1] ?? ""))) {
  await removeConfinementUnder(path.resolve(dataDir));
}
