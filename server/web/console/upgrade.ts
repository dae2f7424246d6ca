import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { CONSOLE_LIMITS, CONSOLE_SUBPROTOCOL, ticketFromProtocols } from "../../protocol/console";
import type { ConsoleHub, ConsoleRole } from "./console-hub";
import { ConsoleSession, type ConsoleSessionOptions } from "./console-session";
import type { ConsumeResult } from "./tickets";

export interface ConsoleAccess {
  user: { id: string; username: string; role: ConsoleRole };
  vm: { id: string; name: string; ownerId: string };
  canCtrlAltDel: boolean;
}

export interface ConsoleUpgradeOptions {
  /** Exact origins (`https://panel.example:8443`) the console page is served from. */
  allowedOrigins: readonly string[];
  consumeTicket: (token: string) => Promise<ConsumeResult>;
  /** Re-reads the user (status, role) and VM and checks `vm.console`; null refuses the upgrade. */
  loadUserAndVm: (ids: { userId: string; vmId: string }) => Promise<ConsoleAccess | null>;
  /** Opens `GET /v1/vms/<name>/console` on the agent; may return a socket that is still connecting. */
  /**
   * The agent's console of the VM; or, with several hosts, `connectAgentConsole` finds the VM's
   * host first (before the browser's handshake) and returns the opener called after it.
   */
  openAgentConsole: (vmName: string) => WebSocket;
  connectAgentConsole?: (vmName: string) => Promise<() => WebSocket>;
  hub: ConsoleHub;
  session?: Pick<
    ConsoleSessionOptions,
    | "idleTimeoutMs"
    | "heartbeatMs"
    | "agentConnectTimeoutMs"
    | "windowBytes"
    | "recheckAccessMs"
    | "ctrlAltDel"
  >;
  onSession?: (session: ConsoleSession) => void;
  /** One info line per refused upgrade (status and why; never the ticket). Default: console.info. */
  log?: (line: string) => void;
}

const statusText: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  429: "Too Many Requests",
};

function refuse(socket: Duplex, status: number): void {
  socket.once("finish", () => socket.destroy());
  socket.once("error", () => undefined);
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? "Error"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
  );
}

/**
 * `/ws/console?vm=<name>` with `Sec-WebSocket-Protocol: zaphod.console, ticket.<token>`: Origin,
 * then the single-use ticket, then the user and VM re-read, then the caps, all before the upgrade;
 * nothing reaches the agent until every check passed. The ticket is never read from the URL.
 */
export function createConsoleUpgradeHandler(options: ConsoleUpgradeOptions) {
  const origins = new Set(options.allowedOrigins.map((origin) => new URL(origin).origin));
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: CONSOLE_LIMITS.maxFrameBytes,
    perMessageDeflate: false,
    // Only the protocol name is echoed back, never the ticket (checked before handleUpgrade).
    handleProtocols: () => CONSOLE_SUBPROTOCOL,
  });

  const log = options.log ?? ((line: string) => console.info(line));

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://invalid");
    const vm = url.searchParams.get("vm");
    // One info line per refusal: the status, why, the VM asked for (when a slug) and the user once
    // known. Never the ticket, a cookie or a header.
    const refused = (status: number, why: string, userId?: string) => {
      const vmField = vm && /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/.test(vm) ? vm : "-";
      log(`[console] upgrade refused ${status} (${why}) vm=${vmField} user=${userId ?? "-"}`);
      refuse(socket, status);
    };
    if (!origins.has(req.headers.origin ?? "")) return refused(403, "origin not allowed");
    const ticket = ticketFromProtocols(req.headers["sec-websocket-protocol"]);
    if (!ticket) return refused(401, "no ticket");
    const consumed = await options.consumeTicket(ticket);
    if (!consumed.ok) return refused(401, "ticket unknown, used or expired");
    const access = await options.loadUserAndVm(consumed);
    if (!access || (vm !== null && vm !== access.vm.name))
      return refused(403, "no access to this VM", consumed.userId);
    const slot = options.hub.acquire(access.user.id);
    if (typeof slot === "string") return refused(429, `console cap (${slot})`, access.user.id);
    socket.once("close", () => slot.release()); // also when handleUpgrade refuses a bad handshake
    if (socket.destroyed) return slot.release();
    const open = options.connectAgentConsole
      ? await options.connectAgentConsole(access.vm.name)
      : () => options.openAgentConsole(access.vm.name);
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (browser) => {
      const agent = open();
      // Re-read now and then, so a revocation made elsewhere (CLI, another process) closes it too.
      const recheckAccess = async () => (await options.loadUserAndVm(consumed))?.vm.name === access.vm.name;
      const session = new ConsoleSession({
        ...options.session,
        ...access,
        browser,
        agent,
        hub: options.hub,
        slot,
        recheckAccess,
      });
      options.onSession?.(session);
    });
  }

  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => socket.destroy());
    upgrade(req, socket, head).catch(() => refuse(socket, 500));
  };
}
