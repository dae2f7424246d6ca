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
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { consoleProtocols } from "../../components/console/console-connection";
import { AckCounter } from "../../components/console/flow-control";
import { createHarness, type Harness } from "../../server/agent/testing/agent-harness";
import { decodeConsoleFrame, encodeConsoleFrame } from "../../server/protocol/console";
import { startConsoleTestServer } from "../../server/web/console/testing/console-test-server";
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/**
 * A console client as a browser is one: it drains its socket at once and queues; `bytesPerSecond`
 * simulates xterm parsing, and only parsed bytes are acknowledged (`ack`). The transport is the
 * subclass's.
 */
abstract class QueueClient {
  #queue: Uint8Array[] = [];
  #queued = 0;
  #busy = false;
  #tail = "";
  #waiters: { marker: string; resolve: () => void }[] = [];
  #onData: (() => void) | undefined;
  received = 0;
  maxQueue = 0;

  constructor(readonly bytesPerSecond = Number.POSITIVE_INFINITY) {}

  abstract opened(): Promise<void>;
  abstract send(text: string): void;
  abstract close(): void;
  /** Called with the count of bytes just parsed. */
  protected abstract ack(bytes: number): void;

  /** Resolves when the processed output contains `marker` (searched from now on). */
  waitFor(marker: string, timeoutMs = 60_000): Promise<void> {
    this.#tail = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${JSON.stringify(marker)}`)),
        timeoutMs,
      );
      this.#waiters.push({
        marker,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Resolves at the next output. */
  nextData(): Promise<void> {
    return new Promise((resolve) => {
      this.#onData = resolve;
    });
  }

  /** Waits until the shell answers (past any replayed history): output only, not the echo. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const done = this.waitFor("__RDY2__", timeoutMs);
    this.send("echo __RDY$((1+1))__\r");
    await done;
  }

  protected output(bytes: Uint8Array): void {
    this.received += bytes.length;
    const onData = this.#onData;
    this.#onData = undefined;
    onData?.();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.maxQueue = Math.max(this.maxQueue, this.#queued);
    this.#pump();
  }

  #pump(): void {
    if (this.#busy) return;
    const chunk = this.#queue.shift();
    if (!chunk) return;
    this.#busy = true;
    const done = () => {
      this.#busy = false;
      this.#queued -= chunk.length;
      this.#processed(chunk);
      this.#pump();
    };
    if (this.bytesPerSecond === Number.POSITIVE_INFINITY) done();
    else setTimeout(done, (chunk.length / this.bytesPerSecond) * 1000);
  }

  #processed(chunk: Uint8Array): void {
    this.ack(chunk.length);
    if (this.#waiters.length === 0) return;
    const text = this.#tail + Buffer.from(chunk).toString("latin1");
    for (const waiter of [...this.#waiters]) {
      if (text.includes(waiter.marker)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    this.#tail = text.slice(-64);
  }
}

/** The browser protocol of /ws/console. */
class ZaphodClient extends QueueClient {
  readonly ws: WebSocket;
  readonly #flow = new AckCounter();

  constructor(ticket: { url: string; token: string }, origin: string, bytesPerSecond?: number) {
    super(bytesPerSecond);
    this.ws = new WebSocket(ticket.url, consoleProtocols(ticket.token), { origin });
    this.ws.on("message", (data) => {
      const frame = decodeConsoleFrame(new Uint8Array(data as Buffer));
      if (frame.kind === "data") this.output(frame.bytes);
    });
  }

  async opened(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
  }

  send(text: string): void {
    this.ws.send(encodeConsoleFrame({ kind: "data", bytes: new TextEncoder().encode(text) }));
  }

  close(): void {
    this.ws.terminate();
  }

  protected ack(bytes: number): void {
    const ack = this.#flow.processed(bytes);
    if (ack > 0 && this.ws.readyState === WebSocket.OPEN)
      this.ws.send(encodeConsoleFrame({ kind: "ack", bytes: ack }));
  }
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
  const latencies: number[] = [];
  for (let i = 0; i < keys + 50; i++) {
    const next = echo.nextData();
    const t0 = performance.now();
    echo.send(i % 2 === 0 ? "a" : "\x7f");
    await Promise.race([next, sleep(5_000)]);
    if (i >= 50) latencies.push(performance.now() - t0);
    await sleep(3);
  }
  echo.close();
  latencies.sort((a, b) => a - b);

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
  const back = slow.waitFor(prompt, 60_000);
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

/** A real agent and a busybox UML VM, logged in at a root shell with the bench prompt. */
async function startUml(): Promise<Harness> {
  const h = await createHarness();
  uml = h;
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
  const web = await startConsoleTestServer({ openAgentConsole: (vm) => h.client.openConsole(vm) });
  try {
    const client = new ZaphodClient(await web.ticketFor(UML_VM, UML_VM), web.origin);
    await client.opened();
    const loggedIn = client.waitFor("# ", 60_000);
    client.send("\rroot\r");
    await loggedIn;
    const prompt = client.waitFor(BENCH_PROMPT, 20_000);
    client.send(`export PS1='${BENCH_PROMPT}'; stty -echoctl 2>/dev/null; clear\r`);
    await prompt;
    client.close();
  } finally {
    await web.stop();
  }
  return h;
}

async function runZaphodUml(): Promise<Results> {
  const h = uml ?? (await startUml());
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

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
