import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket } from "ws";
import { ConsoleHub, type ConsoleHubOptions } from "../console-hub";
import type { ConsoleSession } from "../console-session";
import { createTicketService, MemoryTicketStore } from "../tickets";
import { type ConsoleAccess, createConsoleUpgradeHandler } from "../upgrade";

/**
 * The web tier's console path alone (upgrade glue, sessions, hub, tickets) on 127.0.0.1, wired to
 * an agent console URL: for unit tests of the browser side and for benches. Every user owns the
 * VM named after them; `root` is an admin.
 */
export async function startConsoleTestServer(options: {
  /** The agent console's URL for a VM (fake agent, bench stand-in)… */
  agentUrl?: (vmName: string) => string;
  /** …or a ready client, e.g. the real agent client's `openConsole`. */
  openAgentConsole?: (vmName: string) => WebSocket;
  port?: number;
  hub?: ConsoleHubOptions;
  /** Serves plain HTTP requests (a test page); 404 without it. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}) {
  const hub = new ConsoleHub(options.hub);
  const tickets = createTicketService({ store: new MemoryTicketStore() });
  const sessions: ConsoleSession[] = [];
  const loadUserAndVm = async ({
    userId,
    vmId,
  }: {
    userId: string;
    vmId: string;
  }): Promise<ConsoleAccess | null> => {
    const role = userId === "root" ? "admin" : "member";
    if (role !== "admin" && userId !== vmId) return null;
    return {
      user: { id: userId, username: userId, role },
      vm: { id: vmId, name: vmId, ownerId: vmId },
      canCtrlAltDel: true,
    };
  };
  const server = createServer((req, res) => {
    if (options.onRequest) options.onRequest(req, res);
    else res.writeHead(404).end();
  });
  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  /** The socket URL and a fresh ticket, as the page gets them (ticket → `Sec-WebSocket-Protocol`). */
  const ticketFor = async (userId: string, vmName: string): Promise<{ url: string; token: string }> => {
    const { token } = await tickets.issueTicket({ userId, vmId: vmName });
    return { url: `ws://127.0.0.1:${port}/ws/console?vm=${vmName}`, token };
  };
  const origin = `http://127.0.0.1:${port}`;
  server.on(
    "upgrade",
    createConsoleUpgradeHandler({
      allowedOrigins: [origin],
      consumeTicket: tickets.consumeTicket,
      loadUserAndVm,
      openAgentConsole:
        options.openAgentConsole ??
        ((vmName) => {
          if (!options.agentUrl) throw new Error("startConsoleTestServer needs agentUrl or openAgentConsole");
          return new WebSocket(options.agentUrl(vmName));
        }),
      hub,
      onSession: (s) => sessions.push(s),
    }),
  );
  return {
    port,
    origin,
    hub,
    sessions,
    ticketFor,
    /** Issues a bare ticket token, as the ticket action returns it. */
    issueToken: async (userId: string, vmName: string) =>
      (await tickets.issueTicket({ userId, vmId: vmName })).token,
    /** Stops like a web-tier restart: sessions closed with 1001, then the listener. */
    async stop(): Promise<void> {
      hub.closeAll("shutdown");
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
