import type { Metadata } from "next";
import Link from "next/link";
import { changeAccountStatusAction, issueResetLinkAction } from "@/app/actions/accounts";
import { signOutAction } from "@/app/actions/auth";
import { deleteAccountAction } from "@/app/actions/delete-account";
import { AccountActions } from "@/components/admin/account-actions";
import { DeleteAccount } from "@/components/admin/delete-account";
import { ResetLinkButton } from "@/components/admin/reset-link-button";
import { PageShell } from "@/components/page-shell";
import { StatusBadge } from "@/components/ui/status-badge";
import { requireAdmin } from "@/server/web/dal/get-session";
import { listAccountVms } from "@/server/web/dal/list-account-vms";
import { type AccountRow, listAccounts } from "@/server/web/dal/list-accounts";
import { listProvisionableOwners } from "@/server/web/dal/vms";
import { visibleText } from "@/server/web/domain";

export const metadata: Metadata = { title: "Accounts" };

const dateFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

export default async function AccountsPage() {
  const caller = await requireAdmin();
  const [{ pending, others }, vmsByOwner, owners] = await Promise.all([
    listAccounts(caller),
    listAccountVms(caller),
    listProvisionableOwners(caller),
  ]);
  const targets = owners.map(({ id, username }) => ({ id, username }));
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title="Accounts"
      description="Approve account requests; suspend or reactivate members."
    >
      <section aria-labelledby="pending-heading">
        <h2 id="pending-heading" className="text-lg font-medium">
          Pending requests <span className="text-stone-500">({pending.length})</span>
        </h2>
        {pending.length === 0 ? (
          <p className="mt-3 rounded-xl border border-dashed border-stone-300 px-4 py-6 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
            No requests waiting.
          </p>
        ) : (
          <ul className="mt-3 space-y-3">
            {pending.map((u) => (
              <AccountItem key={u.id} user={u} changes={["approve", "reject"]} showNote vms={[]} />
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="members-heading" className="mt-10">
        <h2 id="members-heading" className="text-lg font-medium">
          Accounts
        </h2>
        <ul className="mt-3 space-y-3">
          {others.map((u) => (
            <AccountItem
              key={u.id}
              user={u}
              vms={vmsByOwner.get(u.id) ?? []}
              deletion={
                u.id !== caller.id &&
                u.role === "member" &&
                (u.status === "rejected" || u.status === "suspended")
                  ? { owners: targets }
                  : undefined
              }
              changes={
                u.id === caller.id || u.role !== "member"
                  ? []
                  : u.status === "active"
                    ? ["suspend"]
                    : u.status === "suspended"
                      ? ["reactivate"]
                      : []
              }
            />
          ))}
        </ul>
      </section>
    </PageShell>
  );
}

function AccountItem({
  user,
  changes,
  showNote,
  vms,
  deletion,
}: {
  user: AccountRow;
  changes: ("approve" | "reject" | "suspend" | "reactivate")[];
  showNote?: boolean;
  /** The account's VMs (names). */
  vms: string[];
  /** Set when the account may be deleted (rejected or suspended member). */
  deletion?: { owners: { id: string; username: string }[] };
}) {
  return (
    <li
      aria-label={user.username}
      className="flex flex-col gap-3 rounded-xl border border-stone-200 bg-white p-4 sm:flex-row sm:items-start sm:justify-between dark:border-stone-800 dark:bg-stone-900"
    >
      <div className="min-w-0 space-y-1">
        <p className="flex flex-wrap items-center gap-2">
          <span className="font-mono font-medium">{user.username}</span>
          <StatusBadge value={user.status} />
          {user.role === "admin" ? <span className="text-xs text-stone-500">admin</span> : null}
        </p>
        <p className="truncate text-sm text-stone-600 dark:text-stone-400">
          {visibleText(user.name)} · {user.email}
        </p>
        <p className="text-xs text-stone-500">
          {showNote ? "Requested" : "Created"} {dateFmt.format(user.createdAt)} UTC
        </p>
        {showNote ? null : (
          <p className="text-sm text-stone-600 dark:text-stone-400" data-testid="account-vms">
            {vms.length === 0 ? "No VM" : vms.length === 1 ? "VM " : "VMs "}
            {vms.map((name, i) => (
              <span key={name}>
                {i > 0 ? ", " : null}
                <Link
                  href={`/admin/vms/${name}`}
                  className="font-mono text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
                >
                  {name}
                </Link>
              </span>
            ))}
          </p>
        )}
        {showNote && user.requestNote ? (
          <blockquote className="mt-2 whitespace-pre-wrap break-words border-l-2 border-stone-300 pl-3 text-sm text-stone-700 dark:border-stone-700 dark:text-stone-300">
            {visibleText(user.requestNote, true)}
          </blockquote>
        ) : null}
      </div>
      <div className="flex flex-wrap items-center gap-2 sm:justify-end">
        {user.status === "active" && user.role === "member" ? (
          <Link
            href={`/admin/vms?owner=${user.id}`}
            aria-label={`Provision VM for ${user.username}`}
            className="inline-flex min-h-10 items-center rounded-lg border border-stone-300 bg-white px-4 text-sm font-medium text-stone-800 hover:bg-stone-100 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100 dark:hover:bg-stone-800"
          >
            Provision VM
          </Link>
        ) : null}
        {user.status === "active" && user.role === "member" ? (
          <ResetLinkButton userId={user.id} username={user.username} action={issueResetLinkAction} />
        ) : null}
        {changes.length ? (
          <AccountActions
            userId={user.id}
            username={user.username}
            changes={changes}
            changeStatus={changeAccountStatusAction}
          />
        ) : null}
        {deletion ? (
          <DeleteAccount
            userId={user.id}
            username={user.username}
            vms={vms}
            owners={deletion.owners}
            action={deleteAccountAction}
          />
        ) : null}
      </div>
    </li>
  );
}
