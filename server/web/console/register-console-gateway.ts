/**
 * Wires the console gateway into the custom server: call once at start, before listening.
 *
 *   registerConsoleGateway({
 *     openAgentConsole: (vmName) => agentClient.openConsole(vmName),  // ws to /v1/vms/<name>/console
 *     onAdminOpened: (e) => void recordAuditEvent({ … action: "console.open" … }),
 *     onCtrlAltDel: ({ userId, vmName }) => …requestPowerAction(caller, vmName, "reboot")…,
 *   });
 *
 * Revocation: the hub closes a suspended user's consoles when ../session-events.ts says so; the
 * sessions also re-check access every 5 s, which covers the CLI and other web processes.
 */
import type { WebSocket } from "ws";
import { getEnv } from "../env";
import { registerUpgrade } from "../upgrade-registry";
import type { AdminOpenedConsole } from "./console-hub";
import { getConsoleHub } from "./console-hub-instance";
import { getConsoleTicketService } from "./issue-console-ticket";
import { loadConsoleAccess } from "./load-console-access";
import { createConsoleUpgradeHandler } from "./upgrade";

export function registerConsoleGateway(deps: {
  openAgentConsole: (vmName: string) => WebSocket;
  /** Several hosts: the VM's host is found before the browser's handshake (upgrade.ts). */
  connectAgentConsole?: (vmName: string) => Promise<() => WebSocket>;
  onAdminOpened?: AdminOpenedConsole;
  /** Ctrl-Alt-Del from a console: the panel's reboot as that user (null, or why it was refused). */
  onCtrlAltDel?: (who: { userId: string; vmName: string }) => Promise<string | null>;
}): void {
  const hub = getConsoleHub();
  if (deps.onAdminOpened) hub.onAdminOpened(deps.onAdminOpened);
  registerUpgrade(
    "/ws/console",
    createConsoleUpgradeHandler({
      allowedOrigins: getEnv().origins,
      consumeTicket: (token) => getConsoleTicketService().consumeTicket(token),
      loadUserAndVm: loadConsoleAccess,
      openAgentConsole: deps.openAgentConsole,
      connectAgentConsole: deps.connectAgentConsole,
      hub,
      session: deps.onCtrlAltDel ? { ctrlAltDel: deps.onCtrlAltDel } : undefined,
    }),
  );
}
