/**
 * A test page for ConsoleView outside Next (bundled by esbuild in console-view.itest.ts): the real
 * component against the real console upgrade glue; only the ticket action is a plain fetch.
 */
import { createRoot } from "react-dom/client";
import { ConsoleView, type IssueConsoleTicket } from "../console-view";

const issueTicket: IssueConsoleTicket = async ({ vmName }) => {
  const res = await fetch(`/ticket?vm=${encodeURIComponent(vmName)}`, { method: "POST" });
  if (res.status === 403)
    return { ok: false, error: { code: "forbidden", message: "You may not open this console." } };
  if (!res.ok) return { ok: false, error: { code: "internal", message: "Something went wrong." } };
  return { ok: true, data: (await res.json()) as { token: string } };
};

const root = document.getElementById("root");
if (root) createRoot(root).render(<ConsoleView vmName="bench" issueTicket={issueTicket} />);
