/**
 * UML's xstate shim (server/agent/uml-xstate) for an agent a bench starts from the source tree:
 * Debian 12's UML panics at boot on CPUs with a large XSAVE area (AMX), so without the shim every
 * VM dies before `login:`. The agent finds dist/uml-xstate.so by itself once
 * `node scripts/build-dist.mjs` has run; in a fresh clone there is no dist/, so this compiles the
 * same source with the same gcc flags into `dir` (root-owned, 0444) for ZAPHOD_UML_PRELOAD.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Null when dist/uml-xstate.so exists (the agent's default); else the path of a fresh build in `dir`. */
export async function buildUmlShimUnlessBuilt(dir: string): Promise<string | null> {
  if (existsSync(join(repoRoot, "dist/uml-xstate.so"))) return null;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const out = join(dir, "uml-xstate.so");
  await new Promise<void>((resolve, reject) =>
    execFile(
      "gcc",
      [
        "-shared",
        "-fPIC",
        "-O2",
        "-Wall",
        "-Werror",
        "-o",
        out,
        join(repoRoot, "server/agent/uml-xstate/uml-xstate.c"),
        "-ldl",
      ],
      { timeout: 60_000 },
      (error, _stdout, stderr) =>
        error
          ? reject(new Error(`gcc could not build the UML shim (apt-get install gcc libc6-dev): ${stderr}`))
          : resolve(),
    ),
  );
  await chmod(out, 0o444);
  return out;
}
