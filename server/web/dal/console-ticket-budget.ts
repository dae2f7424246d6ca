import "server-only";
import { retryMinutes, TICKET_RULE, takeRateLimit } from "../auth/rate-limit";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";
import type { Caller } from "./caller";

/** Console tickets are limited per user (TICKET_RULE); throws rate-limited with when to retry. */
export async function takeConsoleTicketBudget(caller: Caller): Promise<void> {
  const check = await takeRateLimit(getDb(), `ticket:user:${caller.id}`, TICKET_RULE);
  if (!check.limited) return;
  const seconds = Math.max(1, Math.ceil(check.retryAfterMs / 1000));
  throw new ActionFailure(
    "rate-limited",
    seconds <= 60
      ? `Too many console connections; try again in ${seconds} s.`
      : `Too many console connections; try again in ${retryMinutes(check.retryAfterMs)} minutes.`,
  );
}
