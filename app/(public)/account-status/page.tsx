import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { signOutAction } from "@/app/actions/auth";
import { AuthCard } from "@/components/auth/auth-card";
import { SignOutButton } from "@/components/sign-out-button";
import { getAccountStanding } from "@/server/web/dal/get-account-standing";
import { getSession } from "@/server/web/dal/get-session";

export const metadata: Metadata = { title: "Account status" };

/** What a suspended or rejected member sees instead of a bare sign-in form. */
export default async function AccountStatusPage() {
  const caller = await getSession();
  if (caller) redirect(caller.status === "pending" ? "/pending" : "/");
  const standing = await getAccountStanding();
  if (!standing) redirect("/login");
  const suspended = standing.status === "suspended";
  return (
    <AuthCard title={suspended ? "Your account is suspended" : "Your account request was not approved"}>
      <div className="space-y-4 text-sm text-stone-700 dark:text-stone-300">
        <p>
          Hello <span className="font-medium">{standing.name}</span>.{" "}
          {suspended
            ? "An admin has suspended this account: you cannot sign in or use your VM until it is reactivated. Your VM and its data are kept."
            : "An admin has declined this account request, so it cannot be used."}
        </p>
        <div>
          <h2 className="font-medium text-stone-900 dark:text-stone-100">Reason given</h2>
          {standing.reason ? (
            <blockquote
              data-testid="status-reason"
              className="mt-1 whitespace-pre-wrap break-words border-l-2 border-stone-300 pl-3 dark:border-stone-700"
            >
              {standing.reason}
            </blockquote>
          ) : (
            <p className="mt-1 text-stone-500">The admin gave no reason.</p>
          )}
        </div>
        <div>
          <h2 className="font-medium text-stone-900 dark:text-stone-100">Whom to ask</h2>
          {standing.contacts.length ? (
            <ul className="mt-1 space-y-1" data-testid="status-contacts">
              {standing.contacts.map((c) => (
                <li key={c.email}>
                  {c.name} ·{" "}
                  <a
                    href={`mailto:${c.email}`}
                    className="break-all font-medium text-teal-700 underline-offset-4 hover:underline dark:text-teal-400"
                  >
                    {c.email}
                  </a>
                </li>
              ))}
            </ul>
          ) : (
            <p className="mt-1">The administrator of this server.</p>
          )}
        </div>
        <SignOutButton signOut={signOutAction} variant="secondary" label="Sign in as someone else" />
      </div>
    </AuthCard>
  );
}
