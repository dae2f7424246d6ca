import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { signInAction } from "@/app/actions/auth";
import { AuthCard } from "@/components/auth/auth-card";
import { LoginForm } from "@/components/auth/login-form";
import { Notice } from "@/components/ui/notice";
import { getSession } from "@/server/web/dal/get-session";

export const metadata: Metadata = { title: "Sign in" };

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const caller = await getSession();
  if (caller) redirect(caller.status === "pending" ? "/pending" : "/");
  const { reset } = await searchParams;
  return (
    <AuthCard title="Sign in" subtitle="Welcome back.">
      {reset === "1" ? (
        <div className="mb-4">
          <Notice tone="success">Your new password is set. Sign in with it.</Notice>
        </div>
      ) : null}
      <LoginForm signIn={signInAction} />
    </AuthCard>
  );
}
