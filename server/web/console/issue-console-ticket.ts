import "server-only";
import type { Caller } from "../dal/caller";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import { mayActOn } from "../vms/access";
import { PrismaTicketStore } from "./prisma-ticket-store";
import { createTicketService, type TicketService } from "./tickets";

const key = Symbol.for("zaphod.consoleTickets");
type WithTickets = typeof globalThis & { [key]?: TicketService };

/** The process's ticket service over the database (one per process, like the hub). */
export function getConsoleTicketService(): TicketService {
  const scope = globalThis as WithTickets;
  scope[key] ??= createTicketService({ store: new PrismaTicketStore(getDb(), newId) });
  return scope[key];
}

/**
 * A single-use console ticket for the caller on the VM named `vmName`, for the wrapped action
 * behind the console page. Null when the VM does not exist or the caller may not open it: the
 * same answer, so other members' VM names do not leak.
 */
export async function issueConsoleTicket(
  caller: Caller,
  vmName: string,
  tickets: TicketService = getConsoleTicketService(),
): Promise<{ token: string; expiresAt: Date } | null> {
  const vm = await findConsoleVm(caller, vmName);
  if (!vm) return null;
  return tickets.issueTicket({ userId: caller.id, vmId: vm.id });
}

/**
 * The VM named `vmName` if the caller may open its console (the console page and the ticket
 * action), with what the page shows; null for a VM that is missing or not the caller's to open
 * (the VM access rule's console capability; Ctrl-Alt-Del and Start are its power capability).
 */
export async function findConsoleVm(
  caller: Caller,
  vmName: string,
): Promise<{ id: string; name: string; ownerUsername: string; canCtrlAltDel: boolean } | null> {
  if (caller.status !== "active") return null;
  const vm = await getDb().vm.findUnique({
    where: { name: vmName },
    select: { id: true, name: true, ownerId: true, owner: { select: { username: true } } },
  });
  // The same rule as the upgrade's re-check (./load-console-access.ts): ../vms/access.ts.
  if (!vm || !mayActOn(caller, vm, "console")) return null;
  return {
    id: vm.id,
    name: vm.name,
    ownerUsername: vm.owner.username,
    canCtrlAltDel: mayActOn(caller, vm, "power"),
  };
}
