/**
 * TEST ONLY. With `ZAPHOD_TEST_PAUSE_AT=snapshot:<point>` (or `destroy:<point>`) the agent stops
 * at that point of a snapshot (a destroy), writes `<data>/test-pause/<point>.reached` and waits
 * until `<point>.continue` appears, so an integration test can `kill -9` the agent exactly there
 * (snapshots.itest.ts, destroy.itest.ts). Unset in production: then this is a no-op.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AgentConfig } from "./config";
import { ensureDir, lstatOrNull } from "./safe-fs";

export const PAUSE_POINTS = [
  "before-stop",
  "after-stop",
  "after-copy",
  "before-rename",
  "after-rename",
  "restore-before-copy",
] as const;
export type PausePoint = (typeof PAUSE_POINTS)[number];
/** vm.destroy: member dirs removed, the config, marker and host user not yet. */
export type DestroyPausePoint = "after-disks";

export async function testPause(config: AgentConfig, point: PausePoint): Promise<void> {
  await pauseAt(config, `snapshot:${point}`, point);
}

export async function destroyTestPause(config: AgentConfig, point: DestroyPausePoint): Promise<void> {
  await pauseAt(config, `destroy:${point}`, point);
}

async function pauseAt(config: AgentConfig, setting: string, point: string): Promise<void> {
  if (config.testPauseAt !== setting) return;
  const dir = join(config.dataDir, "test-pause");
  await ensureDir(dir, null, 0o700);
  await writeFile(join(dir, `${point}.reached`), `${process.pid}\n`);
  while (!(await lstatOrNull(join(dir, `${point}.continue`)))) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
