import type { Metadata } from "next";
import Link from "next/link";
import { resetPasswordAction } from "@/app/actions/auth";
import { AuthCard } from "@/components/auth/auth-card";
import { ResetPasswordForm } from "@/components/auth/reset-password-form";
import { findUsablePasswordReset } from "@/server/web/dal/password-reset";

export const metadata: Metadata = { title: "Set a new password", referrer: "no-referrer" };

/** An admin's one-time link: set a new password; every session of the account ends. */
export default async function ResetPage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  const reset = await findUsablePasswordReset(token);
  if (!reset)
    return (
      <AuthCard title="This link no longer works">
        <div className="space-y-4 text-sm text-stone-700 dark:text-stone-300">
          <p>
            A password reset link works once, for 30 minutes. This one has expired or was already used. Ask
            the admin for a new one.
          </p>
          <Link
            href="/login"
            className="inline-block font-medium text-teal-700 underline-offset-4 hover:underline dark:text-teal-400"
          >
            Go to sign in
          </Link>
        </div>
      </AuthCard>
    );
  return (
    <AuthCard
      title="Set a new password"
      subtitle={`For ${reset.name} (${reset.username}). You will be signed out everywhere.`}
    >
      <ResetPasswordForm token={token} username={reset.username} action={resetPasswordAction} />
    </AuthCard>
  );
}
