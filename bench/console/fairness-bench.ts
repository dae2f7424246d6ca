/**
 * B12 (fairness under one member's flood) and B1f (the console floor on a real VM) from
 * ../shared/notes/bench.md §4; security.md check 42 measured. The whole product runs here
 * (../lib/panel-stack.ts: the real agent as root, the production web tier, a real database, two
 * members signed in through the login form, each with a busybox UML VM) and every rep runs three
 * phases, interleaved (order reversed on odd reps):
 *
 *   quiet  member B's console echo (browser protocol → web tier → agent → tmux → B's VM) and B's
 *          VM page (GET /vms/<b> with B's session), nothing else running
 *   flood  the same while member A (flooder.ts, its own process) floods its console for a fixed
 *          time: `yes` in A's VM, output ACKed as fast as it comes, and keyboard input in 16 KiB
 *          frames as fast as the socket takes them; the agent's and web tier's RSS sampled
 *          (VmRSS, every 100 ms) before, during and after
 *   floor  B's echo through a direct `tmux attach` to B's VM's own tmux server, as B's VM user on a
 *          pty (tmux-floor.py): what UML and tmux cost without the panel
 *
 * Printed: per-rep figures, the medians, and the ratios flood/quiet and quiet/floor (medians of
 * per-rep ratios). A bench, not a test: it never fails on a figure. Loopback only; every wait has
 * a timeout; everything started is stopped by pid, also on failure or ^C.
 *
 *   sudo npx tsx bench/console/fairness-bench.ts [--reps 3] [--keys 300] [--pages 20]
 *        [--flood-seconds 15] [--settle-seconds 3] [--json out.json]
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { VmStatus } from "../../server/protocol/agent";
import { consoleTicket, type Member, type PanelStack, rssKiB, startPanelStack } from "../lib/panel-stack";
import { signInCookie } from "../lib/sign-in";
import { echoLatencies, median, percentile, sleep, toBenchShell, ZaphodClient } from "./clients";
import { BENCH_PROMPT } from "./pty-agent";

const { values: args } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    keys: { type: "string", default: "300" },
    pages: { type: "string", default: "20" },
    "flood-seconds": { type: "string", default: "15" },
    "settle-seconds": { type: "string", default: "3" },
    json: { type: "string" },
  },
});
const reps = Number(args.reps);
const keys = Number(args.keys);
const pages = Number(args.pages);
const floodSeconds = Number(args["flood-seconds"]);
const settleMs = Number(args["settle-seconds"]) * 1000;
/** B's measurements start this long into a phase (the flood is under way by then). */
const WARMUP_MS = 1_000;

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const A: Member = { username: "flooder", password: randomBytes(12).toString("hex"), vm: "fair-a" };
const B: Member = { username: "bystander", password: randomBytes(12).toString("hex"), vm: "fair-b" };

interface Sample {
  rep: number;
  phase: "quiet" | "flood" | "floor";
  echoP50Ms: number;
  echoP99Ms: number;
  keys: number;
  pageP50Ms?: number;
  pageP99Ms?: number;
  pagesDone?: number;
  load1: number;
  rss?: {
    agentBefore: number;
    agentMax: number;
    agentAfter: number;
    webBefore: number;
    webMax: number;
    tmuxABefore: number;
    tmuxAMax: number;
  };
  flooder?: Record<string, unknown>;
}

let stack: PanelStack | undefined;
const samples: Sample[] = [];
const loads = [loadavg()];
const children = new Set<ChildProcess>();

/** The agent's log and the end of each VM's console logs, kept in .cache/bench/fairness/ to read after. */
async function keepLogs(s: PanelStack): Promise<void> {
  const dir = fileURLToPath(new URL("../../.cache/bench/fairness/", import.meta.url));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "agent.log"), s.harness.agentLog.join(""));
  await copyFile(s.webLog, join(dir, "web.log")).catch(() => undefined);
  for (const vm of [A.vm, B.vm]) {
    const consoleDir = join(s.harness.dataDir, "vms", vm, "console");
    for (const file of await readdir(consoleDir).catch(() => [] as string[])) {
      const text = await readFile(join(consoleDir, file), "latin1").catch(() => "");
      await writeFile(join(dir, `${vm}-${file}`), text.slice(-256 * 1024), "latin1");
    }
  }
}

async function stopAll(): Promise<void> {
  for (const child of children) if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  if (stack) await keepLogs(stack).catch((e) => log(`could not keep the logs: ${e}`));
  await stack?.stop();
  stack = undefined;
}

/** The pid of the VM's tmux server (its console holder, run as the VM's user), or undefined. */
async function tmuxServerPid(vm: string): Promise<number | undefined> {
  const socket = (await (stack as PanelStack).vmHost(vm)).tmuxSocket;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv[0] === "tmux" && argv[2] === socket && argv.includes("new-session")) return Number(entry);
  }
  return undefined;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; 0 when it is gone. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100; // utime, stime in USER_HZ ticks
}

/** The host processes of a VM's UML (its cmdline names `umid=<vm>`). */
async function umlPids(vm: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes("linux.uml") && cmdline.split("\0").includes(`umid=${vm}`)) pids.push(Number(entry));
  }
  return pids;
}

/** Bytes the agent logged as dropped input for `vm` in its log lines from `from` on. */
function droppedInputBytes(vm: string, from: number): number {
  const text = ((stack as PanelStack).harness.agentLog.slice(from) ?? []).join("");
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`console input vm=${vm} dropped=(\\d+)`, "g")))
    sum += Number(m[1]);
  return sum;
}

/** A power verb through the panel as the member (as its VM page's buttons do). */
async function powerAction(member: Member, cookie: string, action: "poweroff" | "start"): Promise<void> {
  const s = stack as PanelStack;
  const res = await fetch(`${s.base}/api/vms/${member.vm}/actions`, {
    method: "POST",
    headers: { cookie, origin: s.base, "content-type": "application/json" },
    body: JSON.stringify({ action }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`${action} of ${member.vm}: ${res.status} ${await res.text()}`);
}

async function waitForState(vm: string, want: (st: VmStatus) => boolean, ms: number) {
  const until = Date.now() + ms;
  for (;;) {
    const st = await (stack as PanelStack).harness.client.call("vm.status", { name: vm });
    if (want(st)) return;
    if (Date.now() > until) throw new Error(`${vm} is ${st.state}/${st.stage} after ${ms / 1000} s`);
    await sleep(500);
  }
}

/**
 * A's VM powered off and on through the panel and logged in again, when its shell did not answer
 * after the flood: the flood's keys still queued for its console end with its tmux server.
 */
async function powerCycleThroughPanel(member: Member, cookie: string): Promise<void> {
  await powerAction(member, cookie, "poweroff");
  await waitForState(member.vm, (st) => st.state === "stopped" && !st.busy, 60_000);
  await powerAction(member, cookie, "start");
  await waitForState(member.vm, (st) => st.state === "running" && st.stage === "up" && !st.busy, 120_000);
  const c = await openConsole(member, cookie);
  try {
    await toBenchShell(c, BENCH_PROMPT);
  } finally {
    c.close();
  }
}

async function openConsole(member: Member, cookie: string): Promise<ZaphodClient> {
  const s = stack as PanelStack;
  const client = new ZaphodClient(await consoleTicket(s, cookie, member.vm), s.base);
  await client.opened();
  return client;
}

async function pageLatencies(cookie: string, deadline: number): Promise<number[]> {
  const s = stack as PanelStack;
  const out: number[] = [];
  for (let i = 0; i < pages && performance.now() < deadline; i++) {
    const t0 = performance.now();
    const res = await fetch(`${s.base}/vms/${B.vm}`, {
      headers: { cookie },
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    if (res.status !== 200 || !body.includes(B.vm)) throw new Error(`GET /vms/${B.vm}: ${res.status}`);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

/** Starts A's flooder; resolves once it floods, with a promise of its figures. */
async function startFlood(cookie: string): Promise<{ done: Promise<Record<string, unknown>> }> {
  const s = stack as PanelStack;
  const ticket = await consoleTicket(s, cookie, A.vm);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./flooder.ts", import.meta.url))],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  children.add(child);
  child.stdin?.end(`${JSON.stringify({ ...ticket, origin: s.base, seconds: floodSeconds })}\n`);
  let out = "";
  const flooding = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the flooder did not start within 60 s")), 60_000);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (text: string) => {
      out += text;
      if (out.includes("flooding\n")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the flooder exited with ${code}`));
    });
  });
  const done = new Promise<Record<string, unknown>>((resolve) => {
    const timer = setTimeout(
      () => {
        if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
      },
      (floodSeconds + 120) * 1000,
    );
    child.once("exit", () => {
      clearTimeout(timer);
      children.delete(child);
      const last = out.trim().split("\n").pop() ?? "";
      resolve(last.startsWith("{") ? (JSON.parse(last) as Record<string, unknown>) : { failed: last });
    });
  });
  await flooding;
  return { done };
}

/** B's echo and VM page, with A flooding or not. */
async function panelPhase(rep: number, flood: boolean, cookies: { a: string; b: string }): Promise<Sample> {
  const s = stack as PanelStack;
  const b = await openConsole(B, cookies.b);
  await b.ready();
  await echoLatencies(b, 0, { warmup: 50 }); // warm-up keys, before any flood
  const rss = { agent: [] as number[], web: [] as number[], tmuxA: [] as number[] };
  const tmuxA = flood ? await tmuxServerPid(A.vm) : undefined;
  const before = {
    agent: await rssKiB(s.harness.agent?.pid),
    web: await rssKiB(s.web.pid),
    tmuxA: await rssKiB(tmuxA),
  };
  const logFrom = s.harness.agentLog.length;
  let sampling = flood;
  const sampler = (async () => {
    while (sampling) {
      rss.agent.push(await rssKiB(s.harness.agent?.pid));
      rss.web.push(await rssKiB(s.web.pid));
      rss.tmuxA.push(await rssKiB(tmuxA));
      await sleep(100);
    }
  })();
  // CPU seconds of each part during the flood: where the flood's cost lands.
  const parts = async () => {
    const uml = await Promise.all((await umlPids(A.vm)).map(cpuSeconds));
    return {
      agent: await cpuSeconds(s.harness.agent?.pid),
      web: await cpuSeconds(s.web.pid),
      tmuxA: await cpuSeconds(tmuxA),
      umlA: uml.reduce((a, b) => a + b, 0),
    };
  };
  const cpu0 = flood ? await parts() : undefined;
  const flooder = flood ? await startFlood(cookies.a) : null;
  const t0 = performance.now();
  // The same time box with and without a flood: B's echo in the first 60 %, then its page.
  const windowMs = floodSeconds * 1000 - 500;
  await sleep(WARMUP_MS);
  const echo = await echoLatencies(b, keys, { warmup: 0, deadline: t0 + windowMs * 0.6 });
  const page = await pageLatencies(cookies.b, t0 + windowMs);
  b.close();
  const figures = flooder ? await flooder.done : undefined;
  const cpu1 = flood ? await parts() : undefined;
  sampling = false;
  await sampler;
  const sample: Sample = {
    rep,
    phase: flood ? "flood" : "quiet",
    echoP50Ms: percentile(echo, 0.5),
    echoP99Ms: percentile(echo, 0.99),
    keys: echo.length,
    pageP50Ms: percentile(page, 0.5),
    pageP99Ms: percentile(page, 0.99),
    pagesDone: page.length,
    load1: loadavg()[0] ?? Number.NaN,
  };
  if (flood) {
    await sleep(settleMs);
    sample.rss = {
      agentBefore: before.agent,
      agentMax: Math.max(...rss.agent.filter(Number.isFinite)),
      agentAfter: await rssKiB(s.harness.agent?.pid),
      webBefore: before.web,
      webMax: Math.max(...rss.web.filter(Number.isFinite)),
      tmuxABefore: before.tmuxA,
      tmuxAMax: Math.max(...rss.tmuxA.filter(Number.isFinite)),
    };
    sample.flooder = { ...figures, agentDroppedBytes: droppedInputBytes(A.vm, logFrom) };
    if (cpu0 && cpu1 && figures)
      sample.flooder.cpuSeconds = Object.fromEntries(
        Object.entries(cpu1).map(([k, v]) => [k, Math.round((v - cpu0[k as keyof typeof cpu0]) * 100) / 100]),
      );
  }
  return sample;
}

/** B's echo through a direct tmux attach to its VM's tmux server (tmux-floor.py). */
async function floorPhase(rep: number): Promise<Sample> {
  const s = stack as PanelStack;
  const host = await s.vmHost(B.vm);
  const script = fileURLToPath(new URL("./tmux-floor.py", import.meta.url));
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      "python3",
      [
        script,
        "--user",
        host.uidGid,
        "--socket",
        host.tmuxSocket,
        "--home",
        host.runDir,
        "--keys",
        String(keys),
      ],
      { encoding: "utf8", timeout: 120_000, env: { PATH: "/usr/bin:/bin" } as unknown as NodeJS.ProcessEnv },
      (error: Error | null, out: string, err: string) =>
        error ? reject(new Error(`tmux-floor.py: ${err || error.message}`)) : resolve(out),
    );
    children.add(child);
    child.once("exit", () => children.delete(child));
  });
  const r = JSON.parse(stdout) as { echoP50Ms: number; echoP99Ms: number; keys: number };
  return { rep, phase: "floor", ...r, load1: loadavg()[0] ?? Number.NaN };
}

const fmt = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(d));
const mib = (kib: number) => kib / 1024;

async function main() {
  if (process.getuid?.() !== 0) throw new Error("needs root (the agent runs VMs as host users)");
  log(
    `machine: ${cpus()[0]?.model} ×${cpus().length}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  stack = await startPanelStack([A, B], log);
  log(`panel at ${stack.base}; signing in ${A.username} and ${B.username} through the login form`);
  const cookies = {
    a: await signInCookie(stack.base, A.username, A.password),
    b: await signInCookie(stack.base, B.username, B.password),
  };
  for (const [member, cookie] of [
    [A, cookies.a],
    [B, cookies.b],
  ] as const) {
    const c = await openConsole(member, cookie);
    await toBenchShell(c, BENCH_PROMPT);
    c.close();
  }
  // Warm-up: the first renders of a page after `next start` are slower than the rest.
  await pageLatencies(cookies.b, performance.now() + 30_000);
  log("both VMs at a root shell, B's page warmed up");
  for (let rep = 0; rep < reps; rep++) {
    const order = (["quiet", "floor", "flood"] as const).slice();
    if (rep % 2 === 1) order.reverse();
    for (const phase of order) {
      const sample =
        phase === "floor" ? await floorPhase(rep) : await panelPhase(rep, phase === "flood", cookies);
      samples.push(sample);
      log(`rep ${rep} ${phase}: ${JSON.stringify(sample)}`);
      if (sample.flooder && typeof sample.flooder.ctrlCBackMs !== "number") {
        log(
          `${A.vm}'s shell did not answer within 60 s of the flood's end: power off and on through the panel`,
        );
        const t = performance.now();
        await powerCycleThroughPanel(A, cookies.a);
        sample.flooder.powerCycledMs = Math.round(performance.now() - t);
      }
      await sleep(settleMs);
    }
    loads.push(loadavg());
  }
}

function report(samples: Sample[], loads: number[][]) {
  const of = (phase: Sample["phase"]) => samples.filter((s) => s.phase === phase);
  const med = (phase: Sample["phase"], key: keyof Sample) => median(of(phase).map((s) => s[key] as number));
  /** Median over reps of a per-rep function of that rep's samples. */
  const perRep = (fn: (by: Record<string, Sample>) => number) =>
    median(
      [...new Set(samples.map((s) => s.rep))]
        .map((rep) => Object.fromEntries(samples.filter((s) => s.rep === rep).map((s) => [s.phase, s])))
        .filter((by) => by.quiet && by.flood && by.floor)
        .map(fn),
    );
  console.log(
    `machine: ${cpus()[0]?.model} ×${cpus().length}; load average (1 min) ${loads
      .map((l) => l[0]!.toFixed(2))
      .join(" → ")}; ${reps} reps, ${keys} keys, ${pages} page loads, ${floodSeconds} s flood`,
  );
  console.log("medians over reps           quiet      flood      floor (direct tmux attach)");
  for (const key of ["echoP50Ms", "echoP99Ms", "pageP50Ms", "pageP99Ms"] as const)
    console.log(
      `  ${key.padEnd(24)}${fmt(med("quiet", key)).padStart(8)} ${fmt(med("flood", key)).padStart(10)} ${(key.startsWith("echo") ? fmt(med("floor", key)) : "").padStart(10)}`,
    );
  console.log("flood / quiet (median of per-rep ratios):");
  for (const key of ["echoP50Ms", "echoP99Ms", "pageP50Ms", "pageP99Ms"] as const)
    console.log(
      `  ${key.padEnd(24)}${fmt(perRep((by) => (by.flood![key] as number) / (by.quiet![key] as number)))}×`,
    );
  console.log("whole path vs floor (quiet phase − floor, quiet / floor; medians of per-rep figures):");
  for (const key of ["echoP50Ms", "echoP99Ms"] as const)
    console.log(
      `  ${key.padEnd(24)}+${fmt(perRep((by) => by.quiet![key] - by.floor![key]))} ms   ${fmt(perRep((by) => by.quiet![key] / by.floor![key]))}×`,
    );
  const floods = of("flood").filter((s) => s.rss);
  console.log("during A's floods (RSS in MiB: before → max; the agent's also after the settle):");
  for (const s of floods) {
    const r = s.rss!;
    const f = s.flooder ?? {};
    const mb = (x: unknown) => fmt(Number(x) / 1e6, 1);
    console.log(
      `  rep ${s.rep}: agent ${fmt(mib(r.agentBefore), 1)} → ${fmt(mib(r.agentMax), 1)} (+${fmt(mib(r.agentMax - r.agentBefore), 1)}), after ${fmt(mib(r.agentAfter), 1)}; web ${fmt(mib(r.webBefore), 1)} → ${fmt(mib(r.webMax), 1)}; A's tmux server ${fmt(mib(r.tmuxABefore), 1)} → ${fmt(mib(r.tmuxAMax), 1)}`,
    );
    console.log(
      `         A typed ${mb(f.sentBytes)} MB in ${fmt(Number(f.floodMs) / 1000, 1)} s (agent dropped ${mb(f.agentDroppedBytes)} MB, ${f.droppedNotices ?? "—"} notices), got ${mb(f.outputBytes)} MB of output; A's Ctrl-C → shell ${f.ctrlCBackMs == null ? `not within 60 s (powered off and on through the panel: ${fmt(Number(f.powerCycledMs) / 1000, 1)} s)` : `${fmt(Number(f.ctrlCBackMs), 0)} ms`}; B measured ${s.keys} keys, ${s.pagesDone} pages`,
    );
    if (f.cpuSeconds)
      console.log(
        `         CPU s from the flood's start to A's shell answering (or 60 s): ${Object.entries(
          f.cpuSeconds as Record<string, number>,
        )
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join(", ")}`,
      );
  }
  if (args.json)
    writeFileSync(args.json, JSON.stringify({ at: new Date().toISOString(), loads, samples }, null, 2));
}

for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void stopAll().finally(() => process.exit(130)));
try {
  await main();
} catch (error) {
  console.error(`fairness bench failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
// The figures of the phases that ran, also after a failure half-way.
if (samples.length > 0) report(samples, loads);
process.exit(process.exitCode ?? 0);
