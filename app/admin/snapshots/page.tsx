import type { Metadata } from "next";
import { signOutAction } from "@/app/actions/auth";
import {
  approveSnapshotAction,
  rejectSnapshotAction,
  setMemberSnapshotQuotaAction,
  setSnapshotDefaultsAction,
} from "@/app/actions/snapshots";
import { PageShell } from "@/components/page-shell";
import {
  ApproveButtons,
  MemberQuotaForm,
  SnapshotDefaultsForm,
} from "@/components/snapshots/admin-snapshot-controls";
import { formatBytes, SnapshotStatusBadge } from "@/components/snapshots/snapshot-status-badge";
import { Cell, stackedTable } from "@/components/stacked-table";
import { requireAdmin } from "@/server/web/dal/get-session";
import { getSnapshotAdminView, listAllSnapshots } from "@/server/web/snapshots/service";

export const metadata: Metadata = { title: "Snapshots" };

const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

export default async function AdminSnapshotsPage() {
  const caller = await requireAdmin();
  const [view, snapshots] = await Promise.all([getSnapshotAdminView(caller), listAllSnapshots(caller)]);
  const waiting = snapshots.filter((s) => s.status === "requested");
  const hostBytes =
    view.usage?.allocatedBytes ??
    snapshots.filter((s) => s.status === "ready").reduce((n, s) => n + s.sizeBytes, 0);
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title="Snapshots"
      description="Policy, quotas, approvals and every snapshot on the host."
    >
      <div className="space-y-8">
        <section aria-labelledby="policy-heading" className="space-y-3">
          <h2 id="policy-heading" className="text-lg font-medium">
            Policy and defaults
          </h2>
          <SnapshotDefaultsForm defaults={view.defaults} save={setSnapshotDefaultsAction} />
        </section>

        <section aria-labelledby="approvals-heading" className="space-y-3">
          <h2 id="approvals-heading" className="text-lg font-medium">
            Waiting for approval
          </h2>
          {waiting.length === 0 ? (
            <p className="text-sm text-stone-600 dark:text-stone-400">Nothing is waiting.</p>
          ) : (
            <ul
              data-testid="snapshot-requests"
              className="divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900"
            >
              {waiting.map((s) => (
                <li
                  key={s.id}
                  className="flex flex-col gap-2 px-4 py-3 sm:flex-row sm:items-center sm:justify-between"
                >
                  <div className="min-w-0">
                    <p className="break-words font-medium">{s.label}</p>
                    <p className="text-xs text-stone-600 dark:text-stone-400">
                      <span className="font-mono">{s.vmName}</span> · {s.owner} ·{" "}
                      {s.includesStorage ? "root + storage" : "root"} ·{" "}
                      {timeFmt.format(new Date(s.createdAt))} UTC
                    </p>
                  </div>
                  <ApproveButtons
                    snapshotId={s.id}
                    approve={approveSnapshotAction}
                    reject={rejectSnapshotAction}
                  />
                </li>
              ))}
            </ul>
          )}
        </section>

        <section aria-labelledby="members-heading" className="space-y-3">
          <h2 id="members-heading" className="text-lg font-medium">
            Members' limits and usage
          </h2>
          <ul className="divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900">
            {view.members.map((m) => (
              <li
                key={m.id}
                data-testid="member-quota"
                data-username={m.username}
                className="flex flex-col gap-2 px-4 py-3 lg:flex-row lg:items-center lg:justify-between"
              >
                <div>
                  <p className="font-medium">{m.username}</p>
                  <p className="text-xs tabular-nums text-stone-600 dark:text-stone-400">
                    {m.quota.usedCount} of {m.quota.maxCount} snapshots
                    {m.quota.source.count === "member" ? " (own limit)" : ""} ·{" "}
                    {formatBytes(m.quota.usedBytes)} of {formatBytes(m.quota.maxBytes)}
                    {m.quota.source.bytes === "member" ? " (own limit)" : ""}
                  </p>
                </div>
                <MemberQuotaForm
                  userId={m.id}
                  username={m.username}
                  overrideCount={m.overrideCount}
                  overrideBytes={m.overrideBytes}
                  save={setMemberSnapshotQuotaAction}
                />
              </li>
            ))}
          </ul>
        </section>

        <section aria-labelledby="all-heading" className="space-y-3">
          <div className="flex flex-wrap items-baseline justify-between gap-2">
            <h2 id="all-heading" className="text-lg font-medium">
              Every snapshot
            </h2>
            <p className="text-sm text-stone-600 dark:text-stone-400" data-testid="snapshot-host-usage">
              {formatBytes(hostBytes)} on the host's disk
              {view.usage ? ` · ${formatBytes(view.usage.freeBytes)} free` : " · agent unavailable"}
            </p>
          </div>
          {snapshots.length === 0 ? (
            <p className="text-sm text-stone-600 dark:text-stone-400">No snapshots yet.</p>
          ) : (
            <div className={stackedTable.wrapper}>
              <table data-testid="all-snapshots" className={`${stackedTable.table} md:min-w-[36rem]`}>
                <thead
                  className={`${stackedTable.thead} border-b border-stone-200 text-xs text-stone-600 dark:border-stone-800 dark:text-stone-400`}
                >
                  <tr>
                    <th className="px-4 py-2 font-medium">VM</th>
                    <th className="px-4 py-2 font-medium">Label</th>
                    <th className="px-4 py-2 font-medium">Status</th>
                    <th className="px-4 py-2 text-right font-medium">On disk</th>
                    <th className="px-4 py-2 font-medium">Taken</th>
                  </tr>
                </thead>
                <tbody className={`${stackedTable.tbody} divide-y divide-stone-200 dark:divide-stone-800`}>
                  {snapshots.map((s) => (
                    <tr key={s.id} className={stackedTable.tr}>
                      <Cell label="VM" className="md:whitespace-nowrap">
                        <span className="font-mono">{s.vmName}</span>
                        <span className="block text-xs text-stone-500">{s.owner}</span>
                      </Cell>
                      <Cell label="Label" className="break-words md:max-w-56">
                        {s.label}
                        {s.kind === "safety" ? (
                          <span className="ml-1 text-xs text-stone-500">(safety)</span>
                        ) : null}
                      </Cell>
                      <Cell label="Status">
                        <SnapshotStatusBadge status={s.status} />
                      </Cell>
                      <Cell label="On disk" className="text-right tabular-nums">
                        {s.status === "ready" ? formatBytes(s.sizeBytes) : "—"}
                      </Cell>
                      <Cell
                        label="Taken"
                        className="whitespace-nowrap text-xs text-stone-600 dark:text-stone-400"
                      >
                        {timeFmt.format(new Date(s.createdAt))} UTC
                      </Cell>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
    </PageShell>
  );
}
