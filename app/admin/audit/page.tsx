import type { Metadata } from "next";
import Link from "next/link";
import { signOutAction } from "@/app/actions/auth";
import { PageShell } from "@/components/page-shell";
import { Cell, stackedTable } from "@/components/stacked-table";
import { StatusBadge } from "@/components/ui/status-badge";
import { auditActionText } from "@/components/vms/words";
import { requireAdmin } from "@/server/web/dal/get-session";
import { AuditAction, listAuditEvents } from "@/server/web/dal/list-audit-events";
import { AuditActions } from "@/server/web/domain";

export const metadata: Metadata = { title: "Audit log" };

const dateFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});

export default async function AuditPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const caller = await requireAdmin();
  const sp = await searchParams;
  const action = AuditAction.safeParse(sp.action);
  const page = Math.max(1, Number.parseInt(String(sp.page ?? "1"), 10) || 1);
  const res = await listAuditEvents(caller, { action: action.success ? action.data : undefined, page });
  const href = (p: number) => {
    const q = new URLSearchParams();
    if (action.success) q.set("action", action.data);
    if (p > 1) q.set("page", String(p));
    const s = q.toString();
    return `/admin/audit${s ? `?${s}` : ""}`;
  };
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title="Audit log"
      description="Every account action, newest first. Times are UTC."
    >
      <form method="get" className="flex flex-wrap items-end gap-3">
        <div className="space-y-1.5">
          <label
            htmlFor="audit-action"
            className="block text-sm font-medium text-stone-700 dark:text-stone-300"
          >
            Action
          </label>
          <select
            id="audit-action"
            name="action"
            defaultValue={action.success ? action.data : ""}
            className="block rounded-lg border border-stone-300 bg-white px-3 py-2 text-sm dark:border-stone-700 dark:bg-stone-900"
          >
            <option value="">All actions</option>
            {AuditActions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </div>
        <button
          type="submit"
          className="min-h-10 rounded-lg border border-stone-300 bg-white px-4 text-sm font-medium hover:bg-stone-100 dark:border-stone-700 dark:bg-stone-900 dark:hover:bg-stone-800"
        >
          Filter
        </button>
        <p className="ml-auto text-sm text-stone-500">
          {res.total} event{res.total === 1 ? "" : "s"}
        </p>
      </form>

      <div className={`mt-4 ${stackedTable.wrapper}`}>
        <table className={`${stackedTable.table} md:min-w-[44rem]`}>
          <caption className="sr-only">Audit events</caption>
          <thead
            className={`${stackedTable.thead} border-b border-stone-200 text-xs uppercase tracking-wide text-stone-500 dark:border-stone-800`}
          >
            <tr>
              <th scope="col" className="px-4 py-2 font-medium">
                Time
              </th>
              <th scope="col" className="px-4 py-2 font-medium">
                Action
              </th>
              <th scope="col" className="px-4 py-2 font-medium">
                Actor
              </th>
              <th scope="col" className="px-4 py-2 font-medium">
                Target
              </th>
              <th scope="col" className="px-4 py-2 font-medium">
                Address
              </th>
              <th scope="col" className="px-4 py-2 font-medium">
                Result
              </th>
            </tr>
          </thead>
          <tbody className={`${stackedTable.tbody} divide-y divide-stone-100 dark:divide-stone-800`}>
            {res.rows.length === 0 ? (
              <tr className="max-md:block">
                <td colSpan={6} className="block px-4 py-8 text-center text-stone-500 md:table-cell">
                  No events.
                </td>
              </tr>
            ) : (
              res.rows.map((r) => (
                <tr key={r.id} className={`${stackedTable.tr} align-top`}>
                  <Cell
                    label="Time"
                    className="whitespace-nowrap tabular-nums text-stone-600 dark:text-stone-400"
                  >
                    {dateFmt.format(r.createdAt)}
                    {r.count > 1 ? <div className="text-xs">to {dateFmt.format(r.updatedAt)}</div> : null}
                  </Cell>
                  <Cell label="Action">
                    {auditActionText(r.action)}
                    {r.count > 1 ? <span className="ml-1 text-stone-500">×{r.count}</span> : null}
                    <div className="font-mono text-xs text-stone-500">{r.action}</div>
                  </Cell>
                  <Cell label="Actor">{r.actorLabel}</Cell>
                  <Cell label="Target">
                    {r.targetUsername ??
                      (typeof r.detail.identifier === "string"
                        ? `“${r.detail.identifier}”`
                        : typeof r.detail.username === "string"
                          ? r.detail.username
                          : r.vmName
                            ? null
                            : "—")}
                    {r.vmName ? (
                      <div data-testid="audit-vm" className="text-xs text-stone-500">
                        VM <span className="font-mono">{r.vmName}</span>
                        {r.vmGone ? " (destroyed)" : ""}
                      </div>
                    ) : null}
                  </Cell>
                  <Cell label="Address" className="font-mono text-xs">
                    {r.ip || "—"}
                  </Cell>
                  <Cell label="Result">
                    <StatusBadge value={r.result} />
                  </Cell>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>

      <nav aria-label="Pagination" className="mt-4 flex items-center justify-between text-sm">
        {res.page > 1 ? (
          <Link
            href={href(res.page - 1)}
            className="rounded-md px-3 py-1.5 text-teal-700 hover:bg-stone-100 dark:text-teal-400 dark:hover:bg-stone-800"
          >
            ← Newer
          </Link>
        ) : (
          <span />
        )}
        <span className="text-stone-500">
          Page {res.page} of {res.pages}
        </span>
        {res.page < res.pages ? (
          <Link
            href={href(res.page + 1)}
            className="rounded-md px-3 py-1.5 text-teal-700 hover:bg-stone-100 dark:text-teal-400 dark:hover:bg-stone-800"
          >
            Older →
          </Link>
        ) : (
          <span />
        )}
      </nav>
    </PageShell>
  );
}
