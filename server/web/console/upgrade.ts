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
  openAgentConsole: (vmName: string) => WebSocket;
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
}

const statusText: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  429: "Too Many Requests",
};

function refuse(socket: Duplex, status: number): void {
  socket.once("finish", () => socket.destroy());
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

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (!origins.has(req.headers.origin ?? "")) return refuse(socket, 403);
    const url = new URL(req.url ?? "/", "http://invalid");
    const ticket = ticketFromProtocols(req.headers["sec-websocket-protocol"]);
    if (!ticket) return refuse(socket, 401);
    const consumed = await options.consumeTicket(ticket);
    if (!consumed.ok) return refuse(socket, 401);
    const access = await options.loadUserAndVm(consumed);
    const vm = url.searchParams.get("vm");
    if (!access || (vm !== null && vm !== access.vm.name)) return refuse(socket, 403);
    const slot = options.hub.acquire(access.user.id);
    if (typeof slot === "string") return refuse(socket, 429);
    socket.once("close", () => slot.release()); // also when handleUpgrade refuses a bad handshake
    if (socket.destroyed) return slot.release();
    wss.handleUpgrade(req, socket, head, (browser) => {
      const agent = options.openAgentConsole(access.vm.name);
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
