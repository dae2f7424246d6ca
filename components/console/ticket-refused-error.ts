/**
 * Thrown by a console's `getTicket` when the server refused (no access, user suspended, VM gone):
 * the console stops retrying. Kept apart so the page can use it without loading the terminal code.
 */
export class TicketRefusedError extends Error {
  override name = "TicketRefusedError";
}
