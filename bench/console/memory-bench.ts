/**
 * B4: memory per console session in the web tier (notes/bench.md): N = 1, 50, 250 idle sessions,
 * then 50 sessions after a 10 MB burst each, RSS of the web process after a full GC. The agent
 * side is the fake agent console in this process (it honours ACKs like the real one).
 *
 *   npx tsx bench/console/memory-bench.ts [--burst-mb 10]
 *
 * Target: web ≤ 50 kB per idle session, ≤ 256 kB after a burst (buffers released).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { consoleProtocols } from "../../components/console/console-connection";
import { decodeConsoleFrame, encodeConsoleFrame } from "../../server/protocol/console";
import { startFakeAgentConsole } from "../../server/web/console/testing/fake-agent-console";

const { values: args } = parseArgs({ options: { "burst-mb": { type: "string", default: "10" } } });
const burstBytes = Number(args["burst-mb"]) * 1_000_000;

const agent = await startFakeAgentConsole();
const server = spawn(
  process.execPath,
  [
    "--expose-gc",
    "--import",
    "tsx",
    fileURLToPath(new URL("./memory-server.ts", import.meta.url)),
    `ws://127.0.0.1:${agent.port}`,
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);
const [line] = (await once(createInterface({ input: server.stdout! }), "line")) as [string];
const base = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
const stats = async () =>
  (await (await fetch(`${base}/stats`)).json()) as {
    rss: number;
    heapUsed: number;
    external: number;
    sessions: number;
  };

/** A client that acknowledges everything at once (a fast browser). */
async function openClient(user: string) {
  const { url, token, origin } = (await (await fetch(`${base}/ticket?user=${user}`)).json()) as {
    url: string;
    token: string;
    origin: string;
  };
  const ws = new WebSocket(url, consoleProtocols(token), { origin });
  let received = 0;
  ws.on("message", (data) => {
    const frame = decodeConsoleFrame(new Uint8Array(data as Buffer));
    if (frame.kind !== "data") return;
    received += frame.bytes.length;
    ws.send(encodeConsoleFrame({ kind: "ack", bytes: frame.bytes.length }));
  });
  await once(ws, "open");
  return { ws, received: () => received };
}

const clients: Awaited<ReturnType<typeof openClient>>[] = [];
try {
  await stats();
  const baseline = await stats();
  const rows: string[] = [];
  const kb = (bytes: number) => (bytes / 1024).toFixed(1);
  for (const n of [1, 50, 250]) {
    while (clients.length < n) clients.push(await openClient(`u${clients.length}`));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const s = await stats();
    rows.push(
      `idle ${String(n).padStart(3)}   rss +${kb(s.rss - baseline.rss)} kB   ${kb((s.rss - baseline.rss) / n)} kB/session   heap ${kb((s.heapUsed - baseline.heapUsed) / n)} kB/session`,
    );
  }
  for (const client of clients.splice(50)) client.ws.close();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = await stats();
  const conns = agent.connections.filter((c) => c.socket.readyState === WebSocket.OPEN).slice(0, 50);
  // Two bursts: RSS that grows on the second one would be a leak; the first one's growth is
  // mostly the allocator keeping freed pages.
  for (let round = 1; round <= 2; round++) {
    for (const conn of conns) agent.flood(conn, burstBytes);
    const deadline = Date.now() + 120_000;
    while (clients.some((c) => c.received() < round * burstBytes) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await stats();
    rows.push(
      `burst ${round}: ${args["burst-mb"]} MB × 50   rss ${kb((after.rss - baseline.rss) / 50)} kB/session (${kb((before.rss - baseline.rss) / 50)} before)   heap ${kb((after.heapUsed - baseline.heapUsed) / 50)}   external ${kb((after.external - baseline.external) / 50)} kB/session`,
    );
  }
  console.log(`web base rss ${(baseline.rss / 1e6).toFixed(1)} MB`);
  for (const row of rows) console.log(row);
} finally {
  for (const client of clients) client.ws.terminate();
  server.kill("SIGTERM");
  await agent.close();
}
