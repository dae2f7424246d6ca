/**
 * Fan-out (issue 13 point 6; bench.md B13's event half): 100 event streams across 25 members, the
 * members' actions sent to one web instance, their events read on that one and on another, with
 * the CPU the web tier spends per event.
 *
 *   sudo flock /tmp/zaphod-heavy.lock npx tsx bench/web/fanout-bench.ts [--members 25] [--streams 4] [--cycles 2] [--reps 2]
 *
 * Needs root and a build (`npx next build && node scripts/build-dist.mjs`). Everything real: a
 * private PostgreSQL (scripts/pg-start.sh, stopped at the end), the agent as root, two production
 * web instances A and B on that database (bench/lib/panel-stack.ts), 25 members each with a
 * stopped busybox VM, each signed in through the login form in Chromium.
 *
 * Per rep, interleaved:
 *  - two instances: each member holds `--streams` /api/events streams, half on A and half on B
 *    (100 in all). Each cycle every member asks A to start its VM (POST /api/vms/<vm>/actions,
 *    40 ms apart), the bench waits until every start task has ended (the VM at login: a real boot
 *    storm of 25 busybox VMs), then asks A to force each one off and waits for those ends. A start
 *    is a task with a handful of `task` events and the VM's `vm` state events; a force-off a few
 *    more. A's streams get A's own events; B's come through PostgreSQL (NOTIFY with the task's or
 *    VM's id, B re-reads the row). Figures: action → the task's first event p50/p99 on A's and on
 *    B's streams; per task and status, B's arrival minus A's (the cross-instance cost) p50/p99; web
 *    CPU (A + B, /proc/<pid>/stat) per action and per event delivered (task and vm events), less
 *    the same processes' CPU over an idle window of the same length.
 *  - one instance: the same streams and actions, all on A.
 * Prints figures and ratios; never fails on a number. An action the panel refuses is counted and
 * its first refusal logged.
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
    cycles: { type: "string", default: "2" },
    reps: { type: "string", default: "2" },
  },
});
const memberCount = Number(values.members);
const streamsEach = Number(values.streams);
const cycles = Number(values.cycles);
const reps = Number(values.reps);
const SPACING_MS = 40;
/** How long one wave of starts (a boot storm) or force-offs may take to end, at most. */
const WAVE_LIMIT_MS = 180_000;
const FINAL = new Set(["succeeded", "failed", "interrupted"]);

const members: Member[] = Array.from({ length: memberCount }, (_, i) => ({
  username: `fo${i + 1}`,
  password: `fanout-member-password-${i + 1}`,
  vm: `fovm${i + 1}`,
}));

/** One open /api/events stream: the first time it saw each task id, and each (task id, status). */
class Stream {
  firstByTask = new Map<string, number>();
  firstByStatus = new Map<string, number>();
  ended = new Set<string>();
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
          if (event === "vm") this.events++;
          if (event !== "task") continue;
          const task = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? "{}") as { id: string; status: string };
          this.events++;
          if (FINAL.has(task.status)) this.ended.add(task.id);
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

type Action = "start" | "poweroff";

interface Phase {
  /** Action sent → the task's first event, per stream, on A's and on B's streams (ms). */
  latencyA: number[];
  latencyB: number[];
  /** The same, per action: starts land in a boot storm of every member's VM, force-offs do not. */
  byAction: Record<Action, { a: number[]; b: number[] }>;
  /** B's arrival minus A's, per task, status and member (ms). */
  crossInstance: number[];
  actions: number;
  delivered: number;
  /** Web CPU (all instances) per action and per delivered event (task and vm), idle subtracted (ms). */
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
  const idleStart = cpu();
  const idleAt = performance.now();
  await sleep(10_000);
  const idlePerMs = (cpu() - idleStart) / (performance.now() - idleAt);

  const sent = new Map<string, { at: number; vm: string; action: Action }>();
  let failedActions = 0;
  const busyStart = cpu();
  const busyAt = performance.now();
  const wave = async (action: Action): Promise<void> => {
    const ids: string[] = [];
    const pending: Promise<void>[] = [];
    for (const [i, m] of members.entries()) {
      const at = performance.now();
      pending.push(
        fetch(`${a}/api/vms/${m.vm}/actions`, {
          method: "POST",
          headers: { cookie: cookies[i] as string, origin: a, "content-type": "application/json" },
          body: JSON.stringify({ action }),
          signal: AbortSignal.timeout(30_000),
        })
          .then(async (res) => {
            // Route handlers answer { ok, data } (their wrappers): the task's id is data.taskId.
            const body = (await res.json().catch(() => ({}))) as { data?: { taskId?: string } };
            const taskId = body.data?.taskId;
            if (res.ok && taskId) {
              sent.set(taskId, { at, vm: m.vm, action });
              ids.push(taskId);
            } else if (failedActions++ === 0)
              log(`a ${action} failed: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
          })
          .catch((e) => {
            if (failedActions++ === 0) log(`a ${action} failed: ${(e as Error).message}`);
          }),
      );
      await sleep(SPACING_MS);
    }
    await Promise.all(pending);
    // Every task of the wave ended, as the member's first stream (on A) saw it.
    const deadline = performance.now() + WAVE_LIMIT_MS;
    const endedAll = () =>
      ids.every((id) => {
        const vm = sent.get(id)?.vm as string;
        return streams.get(vm)?.[0]?.ended.has(id);
      });
    while (!endedAll() && performance.now() < deadline) await sleep(200);
    if (!endedAll()) log(`a ${action} wave did not end within ${WAVE_LIMIT_MS / 1000} s`);
  };
  for (let cycle = 0; cycle < cycles; cycle++) {
    await wave("start");
    await wave("poweroff");
  }
  await sleep(1_000); // the last state events
  const busy = cpu() - busyStart;
  const idle = idlePerMs * (performance.now() - busyAt);

  const latencyA: number[] = [];
  const latencyB: number[] = [];
  const crossInstance: number[] = [];
  const byAction: Phase["byAction"] = { start: { a: [], b: [] }, poweroff: { a: [], b: [] } };
  for (const [taskId, { at, vm, action }] of sent) {
    const mine = streams.get(vm) ?? [];
    for (const s of mine) {
      const first = s.firstByTask.get(taskId);
      if (first === undefined) continue;
      (s.instance === "A" ? latencyA : latencyB).push(first - at);
      byAction[action][s.instance === "A" ? "a" : "b"].push(first - at);
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
    byAction,
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
    `Fan-out, ${memberCount} members × ${streamsEach} streams, ${cycles} cycles of a start and a force-off each, ${reps} reps (medians over reps)`,
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
  for (const action of ["start", "poweroff"] as const)
    console.log(
      `${action === "start" ? "starts (in the storm)" : "force-offs (VMs idle at login)"}: action → event p50 / p99 — two instances A ${ms(m((r) => median(r.two.byAction[action].a)))} / ${ms(m((r) => percentile(r.two.byAction[action].a, 99)))}, B ${ms(m((r) => median(r.two.byAction[action].b)))} / ${ms(m((r) => percentile(r.two.byAction[action].b, 99)))}; one instance ${ms(m((r) => median(r.one.byAction[action].a)))} / ${ms(m((r) => percentile(r.one.byAction[action].a, 99)))}`,
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
