/**
 * Fan-out (issue 13 point 6; bench.md B13's event half): 100 event streams across 25 members, the
 * members' actions sent to one web instance, their events read on that one and on another, with
 * the CPU the web tier spends per event.
 *
 *   sudo flock /tmp/zaphod-heavy.lock npx tsx bench/web/fanout-bench.ts [--members 25] [--streams 4] [--rounds 8] [--reps 2]
 *
 * Needs root and a build (`npx next build && node scripts/build-dist.mjs`). Everything real: a
 * private PostgreSQL (scripts/pg-start.sh, stopped at the end), the agent as root, two production
 * web instances A and B on that database (bench/lib/panel-stack.ts), 25 members each with a
 * stopped busybox VM, each signed in through the login form in Chromium.
 *
 * Per rep, interleaved:
 *  - two instances: each member holds `--streams` /api/events streams, half on A and half on B
 *    (100 in all). Each round every member asks A for a power-off of its stopped VM (POST
 *    /api/vms/<vm>/actions, 40 ms apart; the agent answers at once, so each action is a task that
 *    starts and ends: a few `task` events). A's streams get A's own events; B's come through
 *    PostgreSQL (NOTIFY with the task's id, B re-reads the row). Figures: action → first event
 *    p50/p99 on A's and on B's streams; per task and status, B's arrival minus A's (the
 *    cross-instance cost) p50/p99; web CPU (A + B, /proc/<pid>/stat) per action and per event
 *    delivered, less the same processes' CPU over an idle window of the same length.
 *  - one instance: the same streams and actions, all on A.
 * Prints figures and ratios; never fails on a number.
 *
 * Not measured yet (2026-12-04): a power-off of a stopped VM is refused at once (409 "The VM is not
 * running", no task id), so every action fails and no latency is computed; the action must become
 * one the panel accepts (start, then force-off) before this bench says anything.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Member, type PanelStack, startPanelStack } from "../lib/panel-stack";
import { freshDatabase } from "../lib/pg-database";
import { signInCookie } from "../lib/sign-in";
import { median, percentile } from "../lib/stats";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] [fanout] ${line}`);

const { values } = parseArgs({
  options: {
    members: { type: "string", default: "25" },
    streams: { type: "string", default: "4" },
    rounds: { type: "string", default: "8" },
    reps: { type: "string", default: "2" },
  },
});
const memberCount = Number(values.members);
const streamsEach = Number(values.streams);
const rounds = Number(values.rounds);
const reps = Number(values.reps);
const SPACING_MS = 40;
const ROUND_MS = Math.max(1_000, memberCount * SPACING_MS + 200);

const members: Member[] = Array.from({ length: memberCount }, (_, i) => ({
  username: `fo${i + 1}`,
  password: `fanout-member-password-${i + 1}`,
  vm: `fovm${i + 1}`,
}));

/** One open /api/events stream: the first time it saw each task id, and each (task id, status). */
class Stream {
  firstByTask = new Map<string, number>();
  firstByStatus = new Map<string, number>();
  events = 0;
  private abort = new AbortController();

  constructor(readonly instance: "A" | "B") {}

  async open(base: string, cookie: string): Promise<void> {
    const res = await fetch(`${base}/api/events`, { headers: { cookie }, signal: this.abort.signal });
    if (!res.ok || !res.body) throw new Error(`event stream on ${base}: ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    void (async () => {
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        const now = performance.now();
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (\w+)$/m.exec(frame)?.[1];
          if (event === "ready") ready();
          if (event !== "task") continue;
          const task = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? "{}") as { id: string; status: string };
          this.events++;
          if (!this.firstByTask.has(task.id)) this.firstByTask.set(task.id, now);
          const key = `${task.id}|${task.status}`;
          if (!this.firstByStatus.has(key)) this.firstByStatus.set(key, now);
        }
      }
    })();
    await Promise.race([isReady, sleep(10_000)]);
  }

  close(): void {
    this.abort.abort();
  }
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

interface Phase {
  /** Action sent → the task's first event, per stream, on A's and on B's streams (ms). */
  latencyA: number[];
  latencyB: number[];
  /** B's arrival minus A's, per task, status and member (ms). */
  crossInstance: number[];
  actions: number;
  delivered: number;
  /** Web CPU (all instances) per action and per delivered event, idle subtracted (ms). */
  cpuPerAction: number;
  cpuPerEvent: number;
  failedActions: number;
}

async function phase(stack: PanelStack, cookies: string[], split: boolean): Promise<Phase> {
  const [a, b] = stack.bases as [string, string];
  const streams = new Map<string, Stream[]>();
  for (const [i, m] of members.entries()) {
    const mine: Stream[] = [];
    for (let s = 0; s < streamsEach; s++) {
      const onB = split && s % 2 === 1;
      const stream = new Stream(onB ? "B" : "A");
      await stream.open(onB ? b : a, cookies[i] as string);
      mine.push(stream);
    }
    streams.set(m.vm, mine);
  }
  const pids = stack.webs.map((w) => w.pid);
  const cpu = (): number => pids.reduce<number>((sum, pid) => sum + cpuMs(pid), 0);
  const windowMs = rounds * ROUND_MS + 2_000;
  const idleStart = cpu();
  await sleep(windowMs);
  const idle = cpu() - idleStart;

  const sent = new Map<string, { at: number; vm: string }>();
  let failedActions = 0;
  const busyStart = cpu();
  const pending: Promise<void>[] = [];
  for (let round = 0; round < rounds; round++) {
    const roundStart = performance.now();
    for (const [i, m] of members.entries()) {
      const at = performance.now();
      pending.push(
        fetch(`${a}/api/vms/${m.vm}/actions`, {
          method: "POST",
          headers: { cookie: cookies[i] as string, origin: a, "content-type": "application/json" },
          body: JSON.stringify({ action: "poweroff" }),
          signal: AbortSignal.timeout(30_000),
        })
          .then(async (res) => {
            // Route handlers answer { ok, data } (their wrappers): the task's id is data.taskId.
            const body = (await res.json().catch(() => ({}))) as { data?: { taskId?: string } };
            const taskId = body.data?.taskId;
            if (res.ok && taskId) sent.set(taskId, { at, vm: m.vm });
            else if (failedActions++ === 0)
              log(`an action failed: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
          })
          .catch(() => {
            failedActions++;
          }),
      );
      await sleep(SPACING_MS);
    }
    await sleep(Math.max(0, ROUND_MS - (performance.now() - roundStart)));
  }
  await Promise.all(pending);
  await sleep(2_000); // the last tasks' ends
  const busy = cpu() - busyStart;

  const latencyA: number[] = [];
  const latencyB: number[] = [];
  const crossInstance: number[] = [];
  for (const [taskId, { at, vm }] of sent) {
    const mine = streams.get(vm) ?? [];
    for (const s of mine) {
      const first = s.firstByTask.get(taskId);
      if (first !== undefined) (s.instance === "A" ? latencyA : latencyB).push(first - at);
    }
    const onA = mine.filter((s) => s.instance === "A");
    for (const s of mine.filter((x) => x.instance === "B"))
      for (const [key, t] of s.firstByStatus) {
        if (!key.startsWith(`${taskId}|`)) continue;
        const ta = Math.min(...onA.map((x) => x.firstByStatus.get(key) ?? Number.POSITIVE_INFINITY));
        if (Number.isFinite(ta)) crossInstance.push(t - ta);
      }
  }
  const delivered = [...streams.values()].flat().reduce((n, s) => n + s.events, 0);
  for (const s of [...streams.values()].flat()) s.close();
  const extra = busy - idle;
  return {
    latencyA,
    latencyB,
    crossInstance,
    actions: sent.size,
    delivered,
    cpuPerAction: extra / Math.max(1, sent.size),
    cpuPerEvent: extra / Math.max(1, delivered),
    failedActions,
  };
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

let stack: PanelStack | undefined;
try {
  const databaseUrl = await freshDatabase("zaphod_bench_fanout");
  stack = await startPanelStack(members, log, {
    databaseUrl,
    webInstances: 2,
    provisionArgs: ["--no-start"],
  });
  log(`signing ${members.length} members in through the login form…`);
  const cookies: string[] = [];
  for (const m of members) cookies.push(await signInCookie(stack.base, m.username, m.password));
  const rows: { two: Phase; one: Phase }[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const two = await phase(stack, cookies, true);
    const one = await phase(stack, cookies, false);
    for (const [name, p] of [
      ["two", two],
      ["one", one],
    ] as const)
      log(
        `rep ${rep} ${name}: ${p.actions} actions (${p.failedActions} failed), ${p.delivered} events delivered; action → event p99 A ${ms(percentile(p.latencyA, 99))}${p.latencyB.length ? `, B ${ms(percentile(p.latencyB, 99))}; B − A p50 ${ms(median(p.crossInstance))} p99 ${ms(percentile(p.crossInstance, 99))} (${p.crossInstance.length} pairs)` : ""}; CPU ${p.cpuPerAction.toFixed(2)} ms/action, ${p.cpuPerEvent.toFixed(3)} ms/event`,
      );
    rows.push({ two, one });
  }
  const m = (pick: (r: (typeof rows)[number]) => number) => median(rows.map(pick));
  console.log(
    `Fan-out, ${memberCount} members × ${streamsEach} streams, ${rounds} rounds of one action each, ${reps} reps (medians over reps)`,
  );
  console.log(
    "| setup | action → event p50 / p99, A's streams | B's streams | B − A, p50 / p99 | web CPU per action | per event delivered |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  console.log(
    `| two instances (half the streams on B) | ${ms(m((r) => median(r.two.latencyA)))} / ${ms(m((r) => percentile(r.two.latencyA, 99)))} | ${ms(m((r) => median(r.two.latencyB)))} / ${ms(m((r) => percentile(r.two.latencyB, 99)))} | ${ms(m((r) => median(r.two.crossInstance)))} / ${ms(m((r) => percentile(r.two.crossInstance, 99)))} | ${m((r) => r.two.cpuPerAction).toFixed(2)} ms | ${m((r) => r.two.cpuPerEvent).toFixed(3)} ms |`,
  );
  console.log(
    `| one instance (every stream on A) | ${ms(m((r) => median(r.one.latencyA)))} / ${ms(m((r) => percentile(r.one.latencyA, 99)))} | — | — | ${m((r) => r.one.cpuPerAction).toFixed(2)} ms | ${m((r) => r.one.cpuPerEvent).toFixed(3)} ms |`,
  );
  console.log(
    `two / one: action → event p99 on B's streams ${m((r) => percentile(r.two.latencyB, 99) / percentile(r.one.latencyA, 99)).toFixed(2)}×, CPU per action ${m((r) => r.two.cpuPerAction / r.one.cpuPerAction).toFixed(2)}×`,
  );
} finally {
  await stack?.stop().catch((e) => log(`stopping the stack: ${(e as Error).message}`));
  try {
    execFileSync(join(repoRoot, "scripts/pg-stop.sh"));
  } catch {}
}
