/**
 * Console benchmarks B1 (echo latency), B2 (throughput) and B3 (Ctrl-C under flood) from
 * ../shared/notes/bench.md, run interleaved against peers in the same job and printed as ratios.
 *
 *   npx tsx bench/console/console-bench.ts [--reps 3] [--mb 20] [--keys 1000] [--json out.json]
 *
 * Targets (each rep runs all of them in turn):
 *   zaphod-web  the browser protocol → the web tier's console path (upgrade glue, session, hub,
 *               tickets; server/web/console) → a Unix-socket agent → bash on a pty. Until the real
 *               agent runs here the agent is bench/console/pty-agent.ts (same frames, same ACKs).
 *   raw-pty     bash on a pty read directly by Python (pty-peer.py): the floor.
 * Peers still to add: wetty (npm, in .cache/bench-peers, 127.0.0.1 only), ttyd when present.
 *
 * Loopback only; every wait has a timeout. A bench, not a test: it never fails on a figure.
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { consoleProtocols } from "../../components/console/console-connection";
import { AckCounter } from "../../components/console/flow-control";
import { decodeConsoleFrame, encodeConsoleFrame } from "../../server/protocol/console";
import { startConsoleTestServer } from "../../server/web/console/testing/console-test-server";
import { BENCH_PROMPT, startPtyAgent } from "./pty-agent";

const { values: args } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    mb: { type: "string", default: "20" },
    keys: { type: "string", default: "1000" },
    "flood-seconds": { type: "string", default: "2" },
    "parse-rate": { type: "string", default: "5000000" },
    json: { type: "string" },
  },
});
const reps = Number(args.reps);
const mb = Number(args.mb);
const keys = Number(args.keys);
const floodMs = Number(args["flood-seconds"]) * 1000;
const parseRate = Number(args["parse-rate"]);

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
 * A console client speaking the browser protocol. `bytesPerSecond` simulates xterm parsing (a
 * browser drains its socket at once and queues; only parsed bytes are acknowledged).
 */
class BenchClient {
  readonly ws: WebSocket;
  readonly #flow = new AckCounter();
  #queue: Uint8Array[] = [];
  #queued = 0;
  #busy = false;
  #tail = "";
  #waiters: { marker: string; resolve: () => void }[] = [];
  #onData: (() => void) | undefined;
  received = 0;
  maxQueue = 0;

  constructor(
    ticket: { url: string; token: string },
    origin: string,
    readonly bytesPerSecond = Number.POSITIVE_INFINITY,
  ) {
    this.ws = new WebSocket(ticket.url, consoleProtocols(ticket.token), { origin });
    this.ws.on("message", (data) => this.#message(new Uint8Array(data as Buffer)));
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

  /** Resolves at the next DATA frame. */
  nextData(): Promise<void> {
    return new Promise((resolve) => {
      this.#onData = resolve;
    });
  }

  close(): void {
    this.ws.terminate();
  }

  #message(message: Uint8Array): void {
    const frame = decodeConsoleFrame(message);
    if (frame.kind !== "data") return;
    this.received += frame.bytes.length;
    const onData = this.#onData;
    this.#onData = undefined;
    onData?.();
    this.#queue.push(frame.bytes);
    this.#queued += frame.bytes.length;
    this.flowBacklog();
    this.#pump();
  }

  flowBacklog(): void {
    this.maxQueue = Math.max(this.maxQueue, this.#queued);
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
    const ack = this.#flow.processed(chunk.length);
    if (ack > 0 && this.ws.readyState === WebSocket.OPEN)
      this.ws.send(encodeConsoleFrame({ kind: "ack", bytes: ack }));
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

async function runZaphod(): Promise<Results> {
  const socketPath = join(tmpdir(), `zaphod-bench-agent-${process.pid}.sock`);
  const agent = await startPtyAgent(socketPath);
  const web = await startConsoleTestServer({ agentUrl: agent.url, hub: { maxPerUser: 8 } });
  const open = async (rate?: number) => {
    const client = new BenchClient(await web.ticketFor("bench", "bench"), web.origin, rate);
    await client.opened();
    await client.waitFor(BENCH_PROMPT, 10_000);
    return client;
  };
  try {
    // B1: alternating 'a' and DEL, one at a time, 3 ms apart.
    const echo = await open();
    const latencies: number[] = [];
    for (let i = 0; i < keys + 50; i++) {
      const next = echo.nextData();
      const t0 = performance.now();
      echo.send(i % 2 === 0 ? "a" : "\x7f");
      await next;
      if (i >= 50) latencies.push(performance.now() - t0);
      await sleep(3);
    }
    echo.close();
    latencies.sort((a, b) => a - b);

    // B2: line-structured output, counted at the client.
    const bulk = await open();
    const start = bulk.received;
    const t0 = performance.now();
    const done = bulk.waitFor("__END__", 120_000);
    bulk.send(`head -c ${mb * 1_000_000} /dev/zero | base64; echo __EN''D__\r`);
    await done;
    const linesMBps = (bulk.received - start) / 1e6 / ((performance.now() - t0) / 1000);
    bulk.close();

    // B3: a browser-like client parsing at 5 MB/s; `yes`, then Ctrl-C, until the prompt is parsed.
    const slow = await open(parseRate);
    slow.send("yes\r");
    await sleep(floodMs);
    const prompt = slow.waitFor(BENCH_PROMPT, 60_000);
    const c0 = performance.now();
    slow.send("\x03");
    await prompt;
    const ctrlCMs = performance.now() - c0;
    slow.close();
    return {
      echoP50Ms: percentile(latencies, 0.5),
      echoP99Ms: percentile(latencies, 0.99),
      linesMBps,
      ctrlCMs,
      maxQueueBytes: slow.maxQueue,
    };
  } finally {
    await web.stop();
    await agent.close();
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
  const runs: { rep: number; target: string; results: Results }[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const [target, run] of [
      ["zaphod-web", runZaphod],
      ["raw-pty", async () => runRawPty()],
    ] as const) {
      const results = await run();
      runs.push({ rep, target, results });
      console.error(`rep ${rep} ${target}: ${JSON.stringify(results)}`);
    }
  }
  const metrics: (keyof Results)[] = ["echoP50Ms", "echoP99Ms", "linesMBps", "ctrlCMs", "maxQueueBytes"];
  const byRep = (target: string) => runs.filter((r) => r.target === target);
  console.log(
    `machine: ${cpus()[0]?.model} ×${cpus().length}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log("metric            zaphod-web   raw-pty   ratio (median of per-rep ratios)");
  for (const metric of metrics) {
    const z = byRep("zaphod-web").map((r) => r.results[metric]);
    const raw = byRep("raw-pty").map((r) => r.results[metric]);
    const ratio = median(z.map((v, i) => v / (raw[i] || Number.NaN)));
    console.log(
      `${metric.padEnd(16)} ${median(z).toFixed(2).padStart(11)} ${median(raw).toFixed(2).padStart(9)}   ${ratio.toFixed(2)}×`,
    );
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
