/**
 * B8 — snapshot copy (../shared/notes/bench.md). A 1 GiB sparse COW-like file with ~128 MiB of
 * scattered data is copied the way snapshots copy (server/agent/snapshot-copy.ts: our own fds,
 * `cp --reflink=auto --sparse=always /dev/stdin dst`) and, interleaved in the same run, with plain
 * `cp --sparse=always src dst`; naive `fs.copyFile` once, for contrast. Each copy is timed including
 * its fsync, checked with `cmp`, and its allocation (st_blocks) compared with the source's.
 * With `--vm` (root, UML), it also boots a real VM through the agent and measures the guest pause
 * of live snapshots per 100 MB of allocated COW.
 *
 *   sudo npx tsx bench/snapshot-copy.ts [--reps 5] [--dir /var/tmp] [--vm]
 */
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { copyFile, mkdtemp, open, rm, stat } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { copySparse, fsyncPath } from "../server/agent/snapshot-copy";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "5" },
    dir: { type: "string", default: "/var/tmp" },
    vm: { type: "boolean", default: false },
  },
});
const REPS = Number(values.reps);
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function exec(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file as string, args, { stdio: "ignore", shell: false });
    child.once("error", reject);
    child.once("exit", (code) => resolve(code ?? -1));
  });
}

/** 1 GiB apparent; a COW-ish header, then 128 × 1 MiB of random data at scattered offsets. */
async function makeFixture(path: string): Promise<void> {
  const handle = await open(path, constants.O_CREAT | constants.O_TRUNC | constants.O_WRONLY, 0o600);
  try {
    await handle.truncate(GiB);
    await handle.write(Buffer.concat([Buffer.from("OOOM"), randomBytes(4092)]), 0, 4096, 0);
    const slots = GiB / MiB - 1;
    const chosen = new Set<number>();
    let seed = 42;
    while (chosen.size < 128) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      chosen.add(1 + (seed % slots));
    }
    for (const slot of chosen) await handle.write(randomBytes(MiB), 0, MiB, slot * MiB);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function allocated(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

type Method = "zaphod" | "cp" | "copyFile";

async function copyOnce(method: Method, src: string, dst: string): Promise<number> {
  await rm(dst, { force: true });
  const t0 = performance.now();
  if (method === "zaphod") {
    const handle = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await copySparse(handle, dst);
    } finally {
      await handle.close();
    }
  } else if (method === "cp") {
    const code = await exec(["cp", "--sparse=always", "--", src, dst]);
    if (code !== 0) throw new Error(`cp exited ${code}`);
  } else {
    await copyFile(src, dst);
  }
  await fsyncPath(dst);
  return (performance.now() - t0) / 1000;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function copyBench() {
  const dir = await mkdtemp(join(values.dir as string, "zaphod-b8-"));
  try {
    const src = join(dir, "root.cow");
    await makeFixture(src);
    const srcAlloc = await allocated(src);
    const times: Record<Method, number[]> = { zaphod: [], cp: [], copyFile: [] };
    const allocs: Partial<Record<Method, number>> = {};
    const ratios: number[] = [];
    for (let i = 0; i < REPS; i++) {
      // Alternate which goes first, so neither always gets the warmer cache.
      const order: Method[] = i % 2 ? ["cp", "zaphod"] : ["zaphod", "cp"];
      const rep: Partial<Record<Method, number>> = {};
      for (const m of order) {
        const dst = join(dir, `copy-${m}`);
        rep[m] = await copyOnce(m, src, dst);
        times[m].push(rep[m] as number);
        if (i === 0) {
          if ((await exec(["cmp", "--", src, dst])) !== 0) throw new Error(`${m}: copy differs`);
          allocs[m] = await allocated(dst);
        }
        await rm(dst, { force: true });
      }
      ratios.push((rep.zaphod as number) / (rep.cp as number));
    }
    const naive = join(dir, "copy-copyFile");
    times.copyFile.push(await copyOnce("copyFile", src, naive));
    if ((await exec(["cmp", "--", src, naive])) !== 0) throw new Error("copyFile: copy differs");
    allocs.copyFile = await allocated(naive);
    await rm(naive, { force: true });
    const fsType = await new Promise<string>((resolve) => {
      const child = spawn("stat", ["-f", "-c", "%T", dir], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.on("exit", () => resolve(out.trim()));
    });
    return { fsType, srcAlloc, times, allocs, ratios };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Live snapshots of a real VM: pause (stop → go) per 100 MB of allocated COW. */
async function pauseBench() {
  const { createHarness } = await import("../server/agent/testing/agent-harness");
  const { TestConsole } = await import("../server/agent/testing/console-client");
  const h = await createHarness();
  const out: { cowMB: number; pauseMs: number }[] = [];
  try {
    await h.startAgent();
    const name = "bench-snap";
    await h.client.run("vm.create", {
      name,
      owner: "bench",
      image: h.image,
      memoryMiB: 96,
      storageGiB: 1,
      swapMiB: 0,
    });
    await h.client.run("vm.start", { name });
    const c = await TestConsole.open(h.client.openConsole(name));
    await c.replayed();
    let mark = c.text.length;
    c.type("\r");
    await c.waitFor(/login: $/m, 60_000, mark);
    mark = c.text.length;
    c.type("root\r");
    await c.waitFor(/# $/m, 30_000, mark);
    for (const [i, mbToAdd] of [0, 100, 100].entries()) {
      if (mbToAdd) {
        mark = c.text.length;
        c.type(
          `dd if=/dev/urandom of=/root/fill-${i} bs=1M count=${mbToAdd} 2>/dev/null; sync; echo filled-${i}-$((1+1))\r`,
        );
        await c.waitFor(new RegExp(`^filled-${i}-2`, "m"), 240_000, mark);
      }
      for (let rep = 0; rep < 2; rep++) {
        const task = await h.client.run("snapshot.create", { name, id: randomUUID(), includeStorage: false });
        const root = task.snapshot?.files.find((f) => f.disk === "root");
        out.push({ cowMB: (root?.allocatedBytes ?? 0) / 1e6, pauseMs: task.snapshot?.pauseMs ?? 0 });
      }
    }
    c.close();
  } finally {
    await h.cleanup();
  }
  return out;
}

async function main() {
  const machine = {
    load: loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
  };
  const copy = await copyBench();
  const fmt = (s: number) => `${s.toFixed(3)} s`;
  const mib = (b: number | undefined) => `${((b ?? 0) / MiB).toFixed(1)} MiB`;
  console.log(
    `B8 snapshot copy — ${new Date().toISOString()} — ${JSON.stringify(machine)} — fs ${copy.fsType}`,
  );
  console.log(`source: 1 GiB apparent, ${mib(copy.srcAlloc)} allocated`);
  console.log(
    `zaphod (cp --reflink=auto --sparse=always via fds) median ${fmt(median(copy.times.zaphod))}  [${copy.times.zaphod.map(fmt).join(", ")}]  allocated ${mib(copy.allocs.zaphod)}`,
  );
  console.log(
    `cp --sparse=always                             median ${fmt(median(copy.times.cp))}  [${copy.times.cp.map(fmt).join(", ")}]  allocated ${mib(copy.allocs.cp)}`,
  );
  console.log(
    `fs.copyFile (naive, once)                             ${fmt(copy.times.copyFile[0] as number)}  allocated ${mib(copy.allocs.copyFile)}`,
  );
  console.log(
    `ratio zaphod/cp: median of per-rep ratios ${median(copy.ratios).toFixed(2)}  [${copy.ratios.map((r) => r.toFixed(2)).join(", ")}]`,
  );
  console.log(
    `allocation: zaphod − source = ${(((copy.allocs.zaphod ?? 0) - copy.srcAlloc) / MiB).toFixed(2)} MiB; copyFile ÷ source = ${((copy.allocs.copyFile ?? 0) / copy.srcAlloc).toFixed(1)}×`,
  );
  if (values.vm) {
    const pauses = await pauseBench();
    for (const p of pauses)
      console.log(
        `live snapshot: COW ${p.cowMB.toFixed(1)} MB allocated, guest paused ${p.pauseMs} ms → ${((p.pauseMs / Math.max(1, p.cowMB)) * 100).toFixed(0)} ms per 100 MB`,
      );
    const big = pauses.filter((p) => p.cowMB > 50);
    if (big.length) {
      const per100 = median(big.map((p) => (p.pauseMs / p.cowMB) * 100));
      console.log(`guest pause per 100 MB of COW (median, COW > 50 MB): ${per100.toFixed(0)} ms`);
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
