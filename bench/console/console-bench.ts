/**
 * Console benchmarks B1 (echo latency), B2 (throughput) and B3 (Ctrl-C under flood) from
 * ../shared/notes/bench.md, run interleaved against peers in the same job and printed as ratios.
 *
 *   npx tsx bench/console/console-bench.ts [--reps 3] [--mb 20] [--uml-mb 2] [--keys 1000]
 *        [--no-uml] [--json out.json]
 *
 * Targets (each rep runs all of them in turn, interleaved):
 *   zaphod-uml  the browser protocol (ws client: Origin + single-use ticket in Sec-WebSocket-Protocol,
 *               ACKs) → the web tier's console path (server/web/console: upgrade glue, session, hub)
 *               → the REAL agent (server/agent, Unix socket) → tmux → the console of a real UML VM
 *               (busybox image). Needs root and UML; started once, used by every rep.
 *   zaphod-pty  the same web path → a stand-in agent (pty-agent.ts: same frames and ACK window)
 *               → bash on a pty: the relay on the same footing as the peers (bash on a pty).
 *   wetty       wetty 3.2.0 (npm, installed in .cache/bench-peers/wetty, never in package.json),
 *               127.0.0.1 only, running the same bash; socket.io client with wetty's commit ACKs.
 *   raw-pty     bash on a pty read directly by Python (pty-peer.py): the floor.
 * ttyd is not packaged for Debian 12; it is used by no rep here.
 *
 * Loopback only; every wait has a timeout. A bench, not a test: it never fails on a figure.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createHarness, type Harness } from "../../server/agent/testing/agent-harness";
import { startConsoleTestServer } from "../../server/web/console/testing/console-test-server";
import { buildUmlShimUnlessBuilt } from "../lib/uml-shim";
import { echoLatencies, median, percentile, QueueClient, sleep, toBenchShell, ZaphodClient } from "./clients";
import { BENCH_PROMPT, startPtyAgent } from "./pty-agent";

const { values: args } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    mb: { type: "string", default: "20" },
    "uml-mb": { type: "string", default: "2" },
    keys: { type: "string", default: "1000" },
    "flood-seconds": { type: "string", default: "2" },
    "parse-rate": { type: "string", default: "5000000" },
    "no-uml": { type: "boolean", default: false },
    /** Comma-separated subset of the targets, e.g. `wetty,raw-pty`. */
    targets: { type: "string" },
    json: { type: "string" },
  },
});
const reps = Number(args.reps);
const mb = Number(args.mb);
const umlMb = Number(args["uml-mb"]);
const keys = Number(args.keys);
const floodMs = Number(args["flood-seconds"]) * 1000;
const parseRate = Number(args["parse-rate"]);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const wettyDir = join(repoRoot, ".cache/bench-peers/wetty");

export interface Results {
  echoP50Ms: number;
  echoP99Ms: number;
  linesMBps: number;
  ctrlCMs: number;
  maxQueueBytes: number;
}

interface IoSocket {
  on(event: string, fn: (...a: unknown[]) => void): IoSocket;
  once(event: string, fn: (...a: unknown[]) => void): IoSocket;
  emit(event: string, ...a: unknown[]): IoSocket;
  disconnect(): void;
}

/** wetty's socket.io protocol as its page speaks it: input, resize, data, commit every 256 KiB. */
class WettyClient extends QueueClient {
  readonly #io: IoSocket;
  #uncommitted = 0;

  constructor(port: number, bytesPerSecond?: number) {
    super(bytesPerSecond);
    const require = createRequire(join(wettyDir, "package.json"));
    const { io } = require("socket.io-client") as {
      io: (url: string, opts: object) => IoSocket;
    };
    this.#io = io(`http://127.0.0.1:${port}`, {
      // wetty's socket.io is at <base>/socket.io/ (base "/"); websocket only, as its page upgrades
      // (its HTTP middleware would 301 the polling requests' trailing slash).
      path: "/socket.io/",
      transports: ["websocket"],
      reconnection: false,
    });
    this.#io.on("data", (data) => this.output(Buffer.from(String(data), "utf8")));
  }

  async opened(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#io.once("login", () => resolve());
      this.#io.once("connect_error", (e) => reject(e as Error));
    });
    this.#io.emit("resize", { cols: 100, rows: 30 });
  }

  send(text: string): void {
    this.#io.emit("input", text);
  }

  close(): void {
    this.#io.disconnect();
  }

  protected ack(bytes: number): void {
    this.#uncommitted += bytes;
    if (this.#uncommitted >= 262_144) {
      this.#io.emit("commit", this.#uncommitted);
      this.#uncommitted = 0;
    }
  }
}

/** B1–B3 through one target; `open` gives a fresh client at a shell prompt. */
async function measure(
  open: (bytesPerSecond?: number) => Promise<QueueClient>,
  prompt: string,
  megabytes: number,
): Promise<Results> {
  // B1: alternating 'a' and DEL, one at a time, 3 ms apart.
  const echo = await open();
  const latencies = await echoLatencies(echo, keys);
  echo.close();

  // B2: line-structured output, counted at the client.
  const bulk = await open();
  const start = bulk.received;
  const t0 = performance.now();
  const done = bulk.waitFor("__END__", 300_000);
  bulk.send(`head -c ${Math.round(megabytes * 1_000_000)} /dev/zero | base64; echo __EN''D__\r`);
  await done;
  const linesMBps = (bulk.received - start) / 1e6 / ((performance.now() - t0) / 1000);
  bulk.close();

  // B3: a browser-like client parsing at 5 MB/s; `yes`, then Ctrl-C, until the prompt is parsed.
  const slow = await open(parseRate);
  slow.send("yes\r");
  await sleep(floodMs);
  // The prompt without its trailing space: after a skip-ahead the agent sends a fresh screen
  // (tmux capture-pane, which drops trailing blanks, then a cursor move), and the prompt the shell
  // printed during the skipped backlog is only in that screen, as `__P__$` and a cursor position.
  const back = slow.waitFor(prompt.trimEnd(), 60_000);
  const c0 = performance.now();
  slow.send("\x03");
  await back;
  const ctrlCMs = performance.now() - c0;
  slow.close();
  return {
    echoP50Ms: percentile(latencies, 0.5),
    echoP99Ms: percentile(latencies, 0.99),
    linesMBps,
    ctrlCMs,
    maxQueueBytes: slow.maxQueue,
  };
}

async function runZaphodPty(): Promise<Results> {
  const socketPath = join(tmpdir(), `zaphod-bench-agent-${process.pid}.sock`);
  const agent = await startPtyAgent(socketPath);
  const web = await startConsoleTestServer({ agentUrl: agent.url, hub: { maxPerUser: 8 } });
  try {
    return await measure(
      async (rate) => {
        const client = new ZaphodClient(await web.ticketFor("bench", "bench"), web.origin, rate);
        await client.opened();
        await client.ready();
        return client;
      },
      BENCH_PROMPT,
      mb,
    );
  } finally {
    await web.stop();
    await agent.close();
  }
}

const UML_VM = "bench-con";
let uml: Harness | undefined;
/** startUml's failure, given again to the later reps instead of booting another VM. */
let umlFailure: Error | undefined;

/** The end of the VM's newest boot log (for an error that says why the VM is not at a prompt). */
async function consoleTail(h: Harness): Promise<string> {
  const dir = join(h.dataDir, "vms", UML_VM, "console");
  const logs = (await readdir(dir).catch(() => [] as string[])).sort();
  const last = logs.at(-1);
  if (!last) return "(no console log)";
  return JSON.stringify((await readFile(join(dir, last), "latin1").catch(() => "")).slice(-300));
}

/**
 * A real agent and a busybox UML VM, logged in at a root shell with the bench prompt. Works from
 * a fresh clone: without dist/ the UML shim this host may need is compiled for the agent
 * (../lib/uml-shim.ts), a VM that is not up after `vm.start` fails at once with its console's
 * last lines, and the login waits for getty's prompt instead of typing into the boot.
 */
async function startUml(): Promise<Harness> {
  const h = await createHarness();
  uml = h;
  const shim = await buildUmlShimUnlessBuilt(join(h.root, "lib"));
  if (shim) h.env.ZAPHOD_UML_PRELOAD = shim;
  await h.startAgent();
  await h.client.run("vm.create", {
    name: UML_VM,
    owner: "bench",
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
  await h.client.run("vm.start", { name: UML_VM });
  const status = await h.client.call("vm.status", { name: UML_VM });
  if (status.state !== "running" || status.stage !== "up")
    throw new Error(
      `${UML_VM} is ${status.state}/${status.stage} after vm.start; console: ${await consoleTail(h)}`,
    );
  const web = await startConsoleTestServer({ openAgentConsole: (vm) => h.client.openConsole(vm) });
  try {
    const client = new ZaphodClient(await web.ticketFor(UML_VM, UML_VM), web.origin);
    await client.opened();
    await toBenchShell(client, BENCH_PROMPT);
    client.close();
  } finally {
    await web.stop();
  }
  return h;
}

async function runZaphodUml(): Promise<Results> {
  if (umlFailure) throw umlFailure;
  const h =
    uml ??
    (await startUml().catch((error: Error) => {
      umlFailure = error;
      throw error;
    }));
  const web = await startConsoleTestServer({
    openAgentConsole: (vm) => h.client.openConsole(vm),
    hub: { maxPerUser: 8 },
  });
  try {
    return await measure(
      async (rate) => {
        const client = new ZaphodClient(await web.ticketFor(UML_VM, UML_VM), web.origin, rate);
        await client.opened();
        await client.ready();
        return client;
      },
      BENCH_PROMPT,
      umlMb,
    );
  } finally {
    await web.stop();
  }
}

/** wetty on 127.0.0.1 running the same bash as the other pty targets; stopped by pid. */
async function runWetty(): Promise<Results> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(wettyDir, "node_modules/wetty/build/main.js"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--command",
      "bash --norc --noprofile -i",
    ],
    {
      cwd: wettyDir,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: "/usr/bin:/bin",
        TERM: "xterm-256color",
        PS1: BENCH_PROMPT,
        HOME: "/tmp",
        LANG: "C.UTF-8",
        NODE_ENV: "production",
      },
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("wetty did not start")), 30_000);
      const seen = (d: Buffer) => {
        if (d.toString().includes("Server started")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", seen);
      child.stderr?.on("data", seen);
      child.once("exit", (code) => reject(new Error(`wetty exited: ${code}`)));
    });
    return await measure(
      async (rate) => {
        const client = new WettyClient(port, rate);
        await client.opened();
        await client.ready();
        return client;
      },
      BENCH_PROMPT,
      mb,
    );
  } finally {
    if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGTERM");
  }
}

function runRawPty(): Results {
  const peer = fileURLToPath(new URL("./pty-peer.py", import.meta.url));
  const out = execFileSync(
    "python3",
    [
      peer,
      "--keys",
      String(keys),
      "--mb",
      String(mb),
      "--flood-seconds",
      String(floodMs / 1000),
      "--parse-rate",
      String(parseRate),
    ],
    { encoding: "utf8", timeout: 300_000, env: { PATH: "/usr/bin:/bin", NODE_ENV: "production" } },
  );
  return JSON.parse(out) as Results;
}

async function main() {
  const targets: [string, () => Promise<Results>][] = [
    ["zaphod-pty", runZaphodPty],
    ["raw-pty", async () => runRawPty()],
  ];
  if (existsSync(join(wettyDir, "node_modules/wetty/build/main.js"))) targets.push(["wetty", runWetty]);
  else console.error("wetty: not installed in .cache/bench-peers/wetty (see README); skipped");
  if (!args["no-uml"]) {
    if (process.getuid?.() === 0) targets.unshift(["zaphod-uml", runZaphodUml]);
    else console.error("zaphod-uml: needs root (the agent runs VMs as host users); skipped");
  }
  if (args.targets) {
    const wanted = new Set(args.targets.split(","));
    targets.splice(0, targets.length, ...targets.filter(([t]) => wanted.has(t)));
  }
  const runs: { rep: number; target: string; results: Results }[] = [];
  const load = [loadavg()];
  // The UML VM, its agent and host user go away whatever happens (a peer's client may throw).
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void (uml?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130)));
  process.once("uncaughtException", (error) => {
    console.error(error);
    void (uml?.cleanup() ?? Promise.resolve()).finally(() => process.exit(1));
  });
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const [target, run] of targets) {
        try {
          const results = await run();
          runs.push({ rep, target, results });
          console.error(`rep ${rep} ${target}: ${JSON.stringify(results)}`);
        } catch (error) {
          // One target's failure (a peer, a slow VM) must not lose the others' figures.
          console.error(`rep ${rep} ${target}: failed: ${(error as Error).message}`);
        }
      }
      load.push(loadavg());
    }
  } finally {
    await uml?.cleanup();
  }
  const metrics: (keyof Results)[] = ["echoP50Ms", "echoP99Ms", "linesMBps", "ctrlCMs", "maxQueueBytes"];
  const of = (target: string, metric: keyof Results) =>
    runs.filter((r) => r.target === target).map((r) => r.results[metric]);
  const names = targets.map(([t]) => t);
  console.log(
    `machine: ${cpus()[0]?.model} ×${cpus().length}; load average during the run: ${load
      .map((l) => l[0]!.toFixed(2))
      .join(" → ")}; ${reps} reps, ${keys} keys, ${mb} MB (UML ${umlMb} MB)`,
  );
  console.log(`${"metric".padEnd(16)}${names.map((n) => n.padStart(12)).join("")}   (medians)`);
  for (const metric of metrics)
    console.log(
      `${metric.padEnd(16)}${names.map((n) => median(of(n, metric)).toFixed(2).padStart(12)).join("")}`,
    );
  console.log("ratios (median of per-rep ratios):");
  const pairs = [
    ["zaphod-pty", "raw-pty"],
    ["zaphod-pty", "wetty"],
    ["zaphod-uml", "raw-pty"],
    ["zaphod-uml", "zaphod-pty"],
  ].filter(([a, b]) => names.includes(a!) && names.includes(b!));
  for (const [a, b] of pairs) {
    const cells = metrics.map((metric) => {
      const x = of(a!, metric);
      const y = of(b!, metric);
      return `${metric} ${median(x.map((v, i) => v / (y[i] || Number.NaN))).toFixed(2)}×`;
    });
    console.log(`  ${a} / ${b}: ${cells.join(", ")}`);
  }
  if (args.json) {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      args.json,
      JSON.stringify({ at: new Date().toISOString(), loadavg: loadavg(), runs }, null, 2),
    );
  }
}

await main();
