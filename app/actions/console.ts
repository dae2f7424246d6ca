"use server";

import { ActionFailure, memberAction, z } from "@/server/web/auth/wrappers";
import { issueConsoleTicket } from "@/server/web/console/issue-console-ticket";
import { takeConsoleTicketBudget } from "@/server/web/dal/console-ticket-budget";
import { Slug } from "@/server/web/domain";

/**
 * A single-use console ticket (30 s) for the console page. The token goes back to the browser,
 * which presents it in `Sec-WebSocket-Protocol` on `/ws/console`; someone else's VM answers like a
 * missing one.
 */
export const openConsoleAction = memberAction(
  "vm.console",
  z.object({ vmName: Slug }).strict(),
  async ({ vmName }, { caller }) => {
    await takeConsoleTicketBudget(caller);
    const ticket = await issueConsoleTicket(caller, vmName);
    if (!ticket) throw new ActionFailure("not-found", "No such VM, or it is not yours to open.");
    return { token: ticket.token };
  },
);
