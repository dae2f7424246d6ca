import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { signOutAction } from "@/app/actions/auth";
import { AuthCard } from "@/components/auth/auth-card";
import { SignOutButton } from "@/components/sign-out-button";
import { getSession, redirectWithoutSession } from "@/server/web/dal/get-session";

export const metadata: Metadata = { title: "Request waiting" };

export default async function PendingPage() {
  const caller = await getSession();
  if (!caller) return redirectWithoutSession();
  if (caller.status !== "pending") redirect("/");
  return (
    <AuthCard title="Your request is waiting">
      <div className="space-y-4 text-sm text-stone-700 dark:text-stone-300">
        <p>
          Hello <span className="font-medium">{caller.name}</span>. Your account request is waiting for an
          admin to review it.
        </p>
        <p>
          Once it is approved, reload this page to reach your dashboard. Nothing else is available until then.
        </p>
        <SignOutButton signOut={signOutAction} variant="secondary" />
      </div>
    </AuthCard>
  );
}
