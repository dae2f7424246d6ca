/**
 * B6 (../shared/notes/bench.md §3, issue 13 point 6): the signed-in dashboard under load, against a
 * default Next dynamic page on the same machine, and two web instances against one.
 *
 *   sudo flock /tmp/zaphod-heavy.lock npx tsx bench/web/dashboard-bench.ts [--reps 3] [--seconds 10] [--connections 10]
 *
 * Needs root and a build (`npx next build && node scripts/build-dist.mjs`). Everything real: a
 * private PostgreSQL (scripts/pg-start.sh, stopped at the end), the agent as root with a member's
 * busybox VM running (bench/lib/panel-stack.ts), two production web instances on that database,
 * the member signed in through the login form in Chromium. The peer is a default Next app of the
 * same Next version with one dynamic page (`force-dynamic`, the time rendered), built once into
 * .cache/bench-peers/next-default and started with `next start`. autocannon drives each target for
 * `--seconds` after a 2 s warm-up, interleaved per rep: the peer; the dashboard on one instance with
 * N connections; the dashboard on two instances with N/2 connections each at once (req/s summed,
 * p99 the worse of the two). Prints figures and ratios; never fails on a number.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { type PanelStack, startPanelStack } from "../lib/panel-stack";
import { freshDatabase } from "../lib/pg-database";
import { signInCookie } from "../lib/sign-in";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.error(`[b6] ${line}`);

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "10" },
  },
});
const reps = Number(values.reps);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

type Figures = { rps: number; p50: number; p99: number; errors: number };

function run(url: string, conns: number, duration: number, cookie?: string): Promise<Figures> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, connections: conns, duration, headers: cookie ? { cookie } : {} },
      (error: Error | null, r: autocannon.Result) => {
        if (error) return reject(error);
        resolve({
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          errors: r.errors + r.timeouts + r.non2xx,
        });
      },
    );
  });
}

async function measure(url: string, conns: number, cookie?: string): Promise<Figures> {
  await run(url, conns, 2, cookie); // warm-up
  return run(url, conns, seconds, cookie);
}

async function measureTwo(urls: string[], cookie: string): Promise<Figures> {
  const half = Math.max(1, Math.floor(connections / urls.length));
  await Promise.all(urls.map((u) => run(u, half, 2, cookie)));
  const each = await Promise.all(urls.map((u) => run(u, half, seconds, cookie)));
  return {
    rps: each.reduce((a, f) => a + f.rps, 0),
    p50: Math.max(...each.map((f) => f.p50)),
    p99: Math.max(...each.map((f) => f.p99)),
    errors: each.reduce((a, f) => a + f.errors, 0),
  };
}

/** The peer: a default Next app with one dynamic page, built once (same Next as zaphod). */
async function startPeer(): Promise<{ url: string; child: ChildProcess }> {
  const dir = join(repoRoot, ".cache/bench-peers/next-default");
  mkdirSync(join(dir, "app"), { recursive: true });
  writeFileSync(
    join(dir, "app/layout.jsx"),
    'export const metadata = { title: "Next default" };\nexport default function RootLayout({ children }) {\n  return (<html lang="en"><body>{children}</body></html>);\n}\n',
  );
  writeFileSync(
    join(dir, "app/page.jsx"),
    'export const dynamic = "force-dynamic";\nexport default function Page() {\n  return (<main><h1>Hello</h1><p>{new Date().toISOString()}</p></main>);\n}\n',
  );
  const next = join(repoRoot, "node_modules/next/dist/bin/next");
  if (!existsSync(join(dir, ".next/BUILD_ID"))) {
    log("building the default Next app (once)…");
    execFileSync(process.execPath, [next, "build", dir], {
      stdio: "inherit",
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
    });
  }
  const port = 3890;
  const child = spawn(process.execPath, [next, "start", "-p", String(port), "-H", "127.0.0.1", dir], {
    stdio: "ignore",
    env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
  });
  const url = `http://127.0.0.1:${port}/`;
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited ${child.exitCode}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, child };
    if (Date.now() > until) throw new Error("the default Next app did not answer within 60 s");
    await sleep(250);
  }
}

const fmt = (f: Figures) =>
  `${f.rps.toFixed(0).padStart(5)} req/s  p50 ${String(f.p50).padStart(4)} ms  p99 ${String(f.p99).padStart(4)} ms${f.errors ? `  (${f.errors} errors/non-2xx)` : ""}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

let stack: PanelStack | undefined;
let peer: { url: string; child: ChildProcess } | undefined;
try {
  const databaseUrl = await freshDatabase("zaphod_bench_b6");
  const member = { username: "b6member", password: "b6-member-password-1", vm: "b6vm" };
  stack = await startPanelStack([member], log, { databaseUrl, webInstances: 2 });
  const cookie = await signInCookie(stack.base, member.username, member.password);
  for (const b of stack.bases) {
    const res = await fetch(`${b}/`, { headers: { cookie }, redirect: "manual" });
    const html = await res.text();
    if (res.status !== 200 || !html.includes(member.vm))
      throw new Error(`${b}/ is not the member's dashboard (${res.status})`);
  }
  peer = await startPeer();
  const rows: { peer: Figures; one: Figures; two: Figures }[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const p = await measure(peer.url, connections);
    const one = await measure(`${stack.base}/`, connections, cookie);
    const two = await measureTwo(
      stack.bases.map((b) => `${b}/`),
      cookie,
    );
    log(`rep ${rep}: peer ${fmt(p)} | one ${fmt(one)} | two ${fmt(two)}`);
    rows.push({ peer: p, one, two });
  }
  const m = (pick: (r: (typeof rows)[number]) => number) => median(rows.map(pick));
  console.log(
    `B6, ${reps} reps × ${seconds} s, ${connections} connections (medians; ratios are medians of per-rep ratios)`,
  );
  console.log("| target | req/s | p50 | p99 |");
  console.log("| --- | --- | --- | --- |");
  for (const [name, key] of [
    ["default Next dynamic page", "peer"],
    ["dashboard, one instance", "one"],
    ["dashboard, two instances", "two"],
  ] as const)
    console.log(
      `| ${name} | ${m((r) => r[key].rps).toFixed(0)} | ${m((r) => r[key].p50)} ms | ${m((r) => r[key].p99)} ms |`,
    );
  console.log(
    `dashboard / default Next: req/s ${m((r) => r.one.rps / r.peer.rps).toFixed(2)}×, p99 ${m((r) => r.one.p99 / r.peer.p99).toFixed(2)}×`,
  );
  console.log(
    `two instances / one: req/s ${m((r) => r.two.rps / r.one.rps).toFixed(2)}×, p99 ${m((r) => r.two.p99 / r.one.p99).toFixed(2)}×`,
  );
} finally {
  if (peer?.child.pid && peer.child.exitCode === null) process.kill(peer.child.pid, "SIGTERM");
  await stack?.stop().catch((e) => log(`stopping the stack: ${(e as Error).message}`));
  try {
    execFileSync(join(repoRoot, "scripts/pg-stop.sh"));
  } catch {}
}
