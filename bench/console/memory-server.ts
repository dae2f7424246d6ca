/**
 * B4's web side, alone in its process so its memory can be read: the console path
 * (server/web/console via startConsoleTestServer) in front of the agent URL given in argv.
 * GET /ticket?user=u → a socket URL and ticket for user u on VM u; GET /stats → memory after a full GC.
 * Prints {"port":…} on stdout when ready. Run with --expose-gc.
 */
import { startConsoleTestServer } from "../../server/web/console/testing/console-test-server";

const agentBase = process.argv[2];
if (!agentBase) throw new Error("usage: memory-server.ts ws://127.0.0.1:PORT");
const gc = (globalThis as { gc?: () => void }).gc;

const web: Awaited<ReturnType<typeof startConsoleTestServer>> = await startConsoleTestServer({
  agentUrl: (vm) => `${agentBase}/v1/vms/${vm}/console`,
  hub: { maxPerUser: 4, maxTotal: 10_000 },
  onRequest: (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/ticket") {
      const user = url.searchParams.get("user") ?? "u0";
      void web.ticketFor(user, user).then((t) => res.end(JSON.stringify({ ...t, origin: web.origin })));
      return;
    }
    if (url.pathname === "/stats") {
      gc?.();
      gc?.();
      const m = process.memoryUsage();
      res.end(
        JSON.stringify({
          rss: m.rss,
          heapUsed: m.heapUsed,
          external: m.external,
          sessions: web.hub.openSlots,
        }),
      );
      return;
    }
    res.writeHead(404).end();
  },
});
process.stdout.write(`${JSON.stringify({ port: web.port })}\n`);
process.on("SIGTERM", () => void web.stop().then(() => process.exit(0)));
