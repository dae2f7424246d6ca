/**
 * The web tier's process: Next.js (App Router) behind a Node HTTP server, plus WebSocket upgrades
 * for `/ws/*` only. Listens on ZAPHOD_LISTEN (127.0.0.1:PORT by default), over HTTPS when
 * ZAPHOD_TLS_CERT and ZAPHOD_TLS_KEY name a certificate and its key.
 *
 *   NODE_ENV=production node dist/web.mjs   (after `npm run build`)
 *   node --import ./server/web/register.mjs server/web/main.ts --dev
 */
import { createServer, type IncomingMessage, type RequestListener } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Duplex } from "node:stream";
import next from "next";
import { captureProcessOutput } from "../agent/log-file";
import { getAgent } from "./agent/instance";
import { getBus } from "./bus";
import { consoleCtrlAltDel } from "./console/console-ctrl-alt-del";
import { getConsoleHub } from "./console/console-hub-instance";
import { registerConsoleGateway } from "./console/register-console-gateway";
import { recordAuditEvent } from "./dal/record-audit-event";
import { getDb } from "./db/client";
import { EnvError, getEnv } from "./env";
import { startHostChecks } from "./hosts/health";
import { startHousekeeping } from "./housekeeping";
import { leaveInstances, setInstance, webInstanceId } from "./instances";
import { refuseServerAction } from "./request-guard";
import { CLIENT_IP_HEADER, clientIpOf } from "./request-meta";
import { ensureTaskPipeline } from "./tasks/pipeline";
import { findUpgrade } from "./upgrade-registry";

// WebSocket endpoints (upgrade-registry.ts) are registered in main() before listening.

function refuse(socket: Duplex, status: number, text: string) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

async function main() {
  let env: ReturnType<typeof getEnv>;
  try {
    env = getEnv();
  } catch (e) {
    if (e instanceof EnvError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  if (env.logFile) {
    // Everything the web tier and Next print goes to the rotated, size-capped file (0640).
    process.stderr.write(`web: logging to ${env.logFile.path}\n`);
    captureProcessOutput(env.logFile);
  }
  const dev = process.argv.includes("--dev");
  const hostname = env.hostname;
  const app = next({ dev, hostname, port: env.port, dir: process.cwd() });
  await app.prepare();
  const handle = app.getRequestHandler();

  // /ws/console: browser ⇄ this process ⇄ the agent's console of the VM (server/web/console).
  registerConsoleGateway({
    openAgentConsole: (vmName) => getAgent().openConsoleOn("local", vmName),
    // The VM's own host's agent (found before the browser's handshake).
    connectAgentConsole: (vmName) => getAgent().prepareConsole(vmName),
    // An admin on a member's console: in the VM's history (the member also sees a notice live).
    onAdminOpened: (e) =>
      void recordAuditEvent({
        actor: { id: e.adminUserId, username: e.adminUsername },
        action: "console.open",
        result: "success",
        targetUserId: e.vmOwnerId,
        vmId: e.vmId,
      }).catch((error) => console.error("[web] audit console.open failed:", error)),
    // Ctrl-Alt-Del from a console is the panel's reboot: a task, audited, in the VM's history.
    onCtrlAltDel: consoleCtrlAltDel,
  });

  const onRequest: RequestListener = (req, res) => {
    // Overwrite whatever the client sent: this header is how server code learns the address.
    req.headers[CLIENT_IP_HEADER] = clientIpOf(
      req.socket.remoteAddress,
      req.headers["x-forwarded-for"],
      env.trustProxy,
    );
    // Server actions: a foreign Origin (403) or an oversized body (413) is answered here, clearly
    // and with one info line, before Next reads it (server/web/request-guard.ts).
    const refusal = refuseServerAction(req, env.origins);
    if (refusal) {
      console.info(
        `[web] refused ${req.method} ${(req.url ?? "").split("?")[0]}: ${refusal.status} ${refusal.message}`,
      );
      res.writeHead(refusal.status, {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
        Connection: "close",
      });
      res.end(`${refusal.message}\n`);
      return;
    }
    handle(req, res).catch((e) => {
      console.error("[web] request failed:", e);
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  };
  const server = env.tls
    ? createTlsServer({ cert: env.tls.cert, key: env.tls.key }, onRequest)
    : createServer(onRequest);

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (path.startsWith("/ws/")) {
      req.headers[CLIENT_IP_HEADER] = clientIpOf(
        req.socket.remoteAddress,
        req.headers["x-forwarded-for"],
        env.trustProxy,
      );
      const handler = findUpgrade(path);
      if (!handler) return refuse(socket, 404, "Not Found");
      try {
        handler(req, socket, head);
      } catch (e) {
        console.error("[web] upgrade failed:", e);
        refuse(socket, 500, "Internal Server Error");
      }
      return;
    }
    // Dev: Next attached its own upgrade listener for HMR (/_next/hmr); leave those to it.
    // Production: Next serves no upgrades; an unanswered socket would hang, so close it.
    if (!dev) socket.destroy();
  });

  // One of several web instances, maybe: named by its port (a restart on the same port is the same
  // instance), hearing the others over PostgreSQL's LISTEN/NOTIFY (bus.ts).
  setInstance("web", webInstanceId(env.port));
  getBus().start();
  // Expired rate-limit counters, console tickets and sign-out records go away on a schedule.
  const stopHousekeeping = startHousekeeping(getDb);
  // Joined hosts' agents are asked how they are (the host pages), by the lease holder.
  const stopHostChecks = startHostChecks();
  // Tasks a previous web process left running are followed again at once (the agent holds their
  // timers, a reboot's countdown among them), not only when someone opens a page.
  void ensureTaskPipeline();

  const shutdown = (signal: string) => {
    console.log(`[web] ${signal}: shutting down`);
    stopHousekeeping();
    stopHostChecks();
    // Consoles close with 1001 so browsers reconnect (with a fresh ticket) to the next process.
    getConsoleHub().closeAll("shutdown");
    // Its heartbeat row and leases go, so another instance adopts its tasks at once.
    const left = Promise.allSettled([leaveInstances(), getBus().stop()]);
    server.close(() => void left.then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  // A port that cannot be had ends the process with one clear line: Next's own uncaughtException
  // handler only logs, and the VM event hub and housekeeping would keep a deaf process alive.
  server.on("error", (e: NodeJS.ErrnoException) => {
    console.error(
      e.code === "EADDRINUSE"
        ? `[web] cannot listen on ${hostname}:${env.port}: the address is in use (another zaphod or program holds it)`
        : `[web] cannot listen on ${hostname}:${env.port}: ${e.message}`,
    );
    process.exit(1);
  });
  server.listen(env.port, hostname, () => {
    const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
    console.log(
      `[web] zaphod ${dev ? "(dev) " : ""}listening on ${env.tls ? "https" : "http"}://${shown}:${env.port}`,
    );
  });
}

await main();
