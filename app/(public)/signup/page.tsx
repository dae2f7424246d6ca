import type { Metadata } from "next";
import { requestAccountAction } from "@/app/actions/auth";
import { AuthCard } from "@/components/auth/auth-card";
import { SignupForm } from "@/components/auth/signup-form";

export const metadata: Metadata = { title: "Request an account" };

export default function SignupPage() {
  return (
    <AuthCard
      title="Request an account"
      subtitle="An admin reviews every request before the account can be used."
    >
      <SignupForm requestAccount={requestAccountAction} />
    </AuthCard>
  );
}
