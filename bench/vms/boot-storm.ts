/**
 * B9 (../shared/notes/bench.md §3, issue 13 point 6): a boot storm of the seed's 21 VMs started by
 * the agent's autostart, against a plain loop of direct `linux.uml` starts of the same VMs' disks,
 * with the agent's and the web tier's event-loop lag during the storm.
 *
 *   sudo flock /tmp/zaphod-heavy.lock npx tsx bench/vms/boot-storm.ts [--vms 21] [--reps 2] [--concurrency 2,21]
 *
 * Needs root and a build (`npx next build && node scripts/build-dist.mjs`). The whole product
 * (bench/lib/panel-stack.ts): the real agent as root (VMs confined, as in production), the
 * production web tier on SQLite, 21 members each with a busybox VM (64 MiB, autostart, stopped),
 * each member signed in through the login form in Chromium and holding its dashboard's event stream
 * (/api/events) open. The agent and the web tier are preloaded with bench/lib/loop-lag.mjs
 * (monitorEventLoopDelay), which changes nothing else.
 *
 * Per rep and per concurrency K, interleaved:
 *  - agent: the agent is stopped and started again with ZAPHOD_AUTOSTART_CONCURRENCY=K; from the
 *    moment it listens (autostart begins then), the time until each VM's console shows `login:`
 *    (its boot log polled every 50 ms), and until each member's event stream says running and up;
 *    then the event-loop lag both processes saw in that window; then every VM powered off.
 *  - direct: the same VMs' disks (a fresh COW over the same image, copies of the storage, swap
 *    and seed disks) booted as root by a loop of `linux.uml` with the same kernel arguments, K at a
 *    time, each next one when one reaches `login:` on its stdout; no agent, tmux, sandbox or cgroup.
 * Prints figures and ratios; never fails on a number.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { baseEnv, run } from "../../server/agent/exec";
import { imagePath } from "../../server/agent/images/publish-image";
import { parseBootLogName } from "../../server/agent/vm-paths";
import { type Lag, lagProbeEnv, readLag } from "../lib/loop-lag-read";
import { type Member, type PanelStack, startPanelStack } from "../lib/panel-stack";
import { signInCookie } from "../lib/sign-in";
import { median } from "../lib/stats";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] [b9] ${line}`);
const BOOT_TIMEOUT_MS = 300_000;

const { values } = parseArgs({
  options: {
    vms: { type: "string", default: "21" },
    reps: { type: "string", default: "2" },
    concurrency: { type: "string", default: "2,21" },
  },
});
const count = Number(values.vms);
const reps = Number(values.reps);
const concurrencies = values.concurrency.split(",").map(Number);
if (!(count >= 1 && count <= 32) || !(reps >= 1) || concurrencies.some((k) => !(k >= 1 && k <= 32)))
  throw new Error("--vms 1..32, --reps ≥ 1, --concurrency a list of 1..32");

interface Storm {
  /** ms from the start to each VM's `login:` on its console. */
  toLogin: number[];
  /** ms from the start to each member's event stream saying running and up (agent only). */
  toPanel: number[];
  agentLag?: Lag;
  webLag?: Lag;
}

const members: Member[] = Array.from({ length: count }, (_, i) => ({
  username: `b9m${i + 1}`,
  password: `b9-member-password-${i + 1}`,
  vm: `b9vm${i + 1}`,
}));

/** Each member's /api/events stream, kept open: when it last said its VM is running and up. */
class Watchers {
  upAt = new Map<string, number>();
  private aborts: AbortController[] = [];

  async open(stack: PanelStack, cookies: string[]): Promise<void> {
    await Promise.all(members.map((m, i) => this.watch(stack.base, cookies[i] as string, m.vm)));
  }

  private async watch(base: string, cookie: string, vm: string): Promise<void> {
    const abort = new AbortController();
    this.aborts.push(abort);
    const res = await fetch(`${base}/api/events`, { headers: { cookie }, signal: abort.signal });
    if (!res.ok || !res.body) throw new Error(`${vm}'s event stream: ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (\w+)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event !== "vm" || !data) continue;
          const live = JSON.parse(data) as { name: string; state: string; stage: string | null };
          if (live.name === vm && live.state === "running" && live.stage === "up" && !this.upAt.has(vm))
            this.upAt.set(vm, performance.now());
        }
      }
    })();
  }

  close(): void {
    for (const a of this.aborts) a.abort();
  }
}

/** The newest boot log number of a VM (0 when none). */
async function lastBoot(stack: PanelStack, vm: string): Promise<number> {
  const files = await readdir(join(stack.harness.dataDir, "vms", vm, "console")).catch(() => [] as string[]);
  return Math.max(0, ...files.map((f) => parseBootLogName(f) ?? 0));
}

async function poweroffAll(stack: PanelStack): Promise<void> {
  await Promise.all(
    members.map(async (m) => {
      const status = await stack.harness.client.call("vm.status", { name: m.vm });
      if (status.state !== "stopped") await stack.harness.client.run("vm.poweroff", { name: m.vm });
    }),
  );
}

async function agentStorm(stack: PanelStack, watchers: Watchers, lagDir: string, k: number): Promise<Storm> {
  const { harness } = stack;
  await harness.killAgent("SIGTERM");
  const before = new Map(
    await Promise.all(members.map(async (m) => [m.vm, await lastBoot(stack, m.vm)] as const)),
  );
  harness.env.ZAPHOD_AUTOSTART_CONCURRENCY = String(k);
  watchers.upAt.clear();
  await harness.startAgent();
  const t0 = performance.now();
  await readLag(lagDir, harness.agent?.pid); // from here on
  await readLag(lagDir, stack.web.pid);
  const loginAt = new Map<string, number>();
  while (loginAt.size < members.length) {
    if (performance.now() - t0 > BOOT_TIMEOUT_MS)
      throw new Error(`agent storm: ${members.length - loginAt.size} VMs not at login: after 300 s`);
    for (const m of members) {
      if (loginAt.has(m.vm)) continue;
      const n = await lastBoot(stack, m.vm);
      if (n <= (before.get(m.vm) ?? 0)) continue;
      const text = await readFile(
        join(harness.dataDir, "vms", m.vm, "console", `boot-${String(n).padStart(6, "0")}.log`),
        "latin1",
      ).catch(() => "");
      if (/login:/.test(text)) loginAt.set(m.vm, performance.now());
    }
    await sleep(50);
  }
  const agentLag = await readLag(lagDir, harness.agent?.pid);
  const webLag = await readLag(lagDir, stack.web.pid);
  // The member's view: the agent's sweep reports a boot stage every 2 s.
  for (let i = 0; i < 100 && watchers.upAt.size < members.length; i++) await sleep(100);
  const storm: Storm = {
    toLogin: [...loginAt.values()].map((t) => t - t0),
    toPanel: [...watchers.upAt.values()].map((t) => t - t0),
    agentLag,
    webLag,
  };
  await poweroffAll(stack);
  return storm;
}

async function directStorm(stack: PanelStack, k: number): Promise<Storm> {
  const { harness } = stack;
  const dir = await mkdtemp("/tmp/zaphod-b9-direct-");
  const children: ChildProcess[] = [];
  const shim = [join(harness.dataDir, "lib/uml-xstate.so"), join(repoRoot, "dist/uml-xstate.so")].find((p) =>
    existsSync(p),
  );
  try {
    const argvs = await Promise.all(
      members.map(async (m) => {
        const vmDir = join(harness.dataDir, "vms", m.vm);
        const own = join(dir, m.vm);
        await run(["mkdir", "-m", "0700", own]);
        const disk = async (file: string) => {
          const from = join(vmDir, file);
          if (!existsSync(from)) return null;
          await run(["cp", "--sparse=always", from, join(own, file.replace(/^.*\//, ""))]);
          return join(own, file.replace(/^.*\//, ""));
        };
        const swap = await disk("disk/swap.img");
        const storage = await disk("disk/storage.img");
        const seed = await disk("seed.iso");
        return [
          ...(shim ? ["/usr/bin/env", `LD_PRELOAD=${shim}`] : []),
          "/usr/bin/linux.uml",
          "mem=64M",
          `ubd0=${join(own, "root.cow")},${imagePath(join(harness.dataDir, "images"), harness.image)}`,
          ...(swap ? [`ubd1=${swap}`] : []),
          ...(storage ? [`ubd2=${storage}`] : []),
          ...(seed ? [`ubd3r=${seed}`] : []),
          `umid=b9-direct-${m.vm}`,
          `uml_dir=${own}`,
          "con0=fd:0,fd:1",
          "con=null",
          "ssl=null",
          `hostfs=${own}/no-hostfs`,
          "root=/dev/ubda",
          "rw",
          "init=/sbin/init",
          `zvm.hostname=${m.vm}`,
        ];
      }),
    );
    const queue = argvs.map((argv, i) => ({ argv, vm: members[i]?.vm as string }));
    const toLogin: number[] = [];
    const t0 = performance.now();
    const boot = (argv: string[], vm: string) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(argv[0] as string, argv.slice(1), {
          stdio: ["pipe", "pipe", "pipe"],
          detached: true,
          env: baseEnv() as NodeJS.ProcessEnv,
          cwd: "/",
        });
        children.push(child);
        let out = "";
        const timer = setTimeout(
          () => reject(new Error(`direct ${vm}: no login: in 300 s:\n${out.slice(-500)}`)),
          BOOT_TIMEOUT_MS,
        );
        const take = (data: Buffer) => {
          out += data.toString("latin1");
          if (/login:/.test(out)) {
            clearTimeout(timer);
            toLogin.push(performance.now() - t0);
            child.stdout?.off("data", take);
            resolve();
          }
        };
        child.stdout?.on("data", take);
        child.stdout?.on("data", () => undefined); // keep draining after login:
        child.stderr?.on("data", () => undefined);
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`direct ${vm}: linux.uml exited ${code} before login:\n${out.slice(-500)}`));
        });
      });
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await boot(next.argv, next.vm);
    };
    await Promise.all(Array.from({ length: Math.min(k, members.length) }, worker));
    return { toLogin, toPanel: [] };
  } finally {
    for (const child of children) {
      if (child.pid && child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
    }
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null)
        await Promise.race([new Promise((r) => child.once("exit", r)), sleep(5_000)]);
    await rm(dir, { recursive: true, force: true });
  }
}

const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

let stack: PanelStack | undefined;
const watchers = new Watchers();
const lagDir = await mkdtemp("/tmp/zaphod-b9-lag-");
try {
  stack = await startPanelStack(members, log, {
    provisionArgs: ["--autostart", "--no-start"],
    agentEnv: lagProbeEnv(lagDir),
    webEnv: lagProbeEnv(lagDir),
  });
  log(`signing ${members.length} members in through the login form…`);
  const cookies: string[] = [];
  for (const m of members) cookies.push(await signInCookie(stack.base, m.username, m.password));
  await watchers.open(stack, cookies);
  const rows: { k: number; agent: Storm; direct: Storm }[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    for (const k of concurrencies) {
      const agent = await agentStorm(stack, watchers, lagDir, k);
      const direct = await directStorm(stack, k);
      log(
        `rep ${rep}, ${k} at a time: agent login p50 ${sec(median(agent.toLogin))} max ${sec(Math.max(...agent.toLogin))}, panel up max ${sec(Math.max(...agent.toPanel))} (${agent.toPanel.length}/${count}); direct p50 ${sec(median(direct.toLogin))} max ${sec(Math.max(...direct.toLogin))}; lag p99 agent ${agent.agentLag?.p99.toFixed(1)} ms (max ${agent.agentLag?.max.toFixed(0)}), web ${agent.webLag?.p99.toFixed(1)} ms (max ${agent.webLag?.max.toFixed(0)})`,
      );
      rows.push({ k, agent, direct });
    }
  }
  console.log(`B9, ${count} busybox VMs (64 MiB), ${reps} reps (medians over reps)`);
  console.log(
    "| at a time | agent: login p50 / max | direct: login p50 / max | max agent / direct | panel shows up, max | agent lag p99 / max | web lag p99 / max |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const k of concurrencies) {
    const mine = rows.filter((r) => r.k === k);
    const m = (pick: (r: (typeof mine)[number]) => number) => median(mine.map(pick));
    console.log(
      `| ${k} | ${sec(m((r) => median(r.agent.toLogin)))} / ${sec(m((r) => Math.max(...r.agent.toLogin)))} | ${sec(m((r) => median(r.direct.toLogin)))} / ${sec(m((r) => Math.max(...r.direct.toLogin)))} | ${m((r) => Math.max(...r.agent.toLogin) / Math.max(...r.direct.toLogin)).toFixed(2)}× | ${sec(m((r) => Math.max(...r.agent.toPanel)))} | ${m((r) => r.agent.agentLag?.p99 ?? Number.NaN).toFixed(1)} / ${m((r) => r.agent.agentLag?.max ?? Number.NaN).toFixed(0)} ms | ${m((r) => r.agent.webLag?.p99 ?? Number.NaN).toFixed(1)} / ${m((r) => r.agent.webLag?.max ?? Number.NaN).toFixed(0)} ms |`,
    );
  }
} finally {
  watchers.close();
  await stack?.stop().catch((e) => log(`stopping the stack: ${(e as Error).message}`));
  await rm(lagDir, { recursive: true, force: true });
}
