import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { AuthCard } from "@/components/auth/auth-card";
import { LoginForm } from "@/components/auth/login-form";
import { getSession } from "@/server/web/dal/get-session";

export const metadata: Metadata = { title: "Sign in" };

export default async function LoginPage() {
  const caller = await getSession();
  if (caller) redirect(caller.status === "pending" ? "/pending" : "/");
  return (
    <AuthCard title="Sign in" subtitle="Welcome back.">
      <LoginForm />
    </AuthCard>
  );
}
