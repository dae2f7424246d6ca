import type { Metadata } from "next";
import Link from "next/link";
import { AuthCard } from "@/components/auth/auth-card";

export const metadata: Metadata = { title: "Request sent" };

export default function RequestSentPage() {
  return (
    <AuthCard title="Request sent">
      <div className="space-y-4 text-sm text-stone-700 dark:text-stone-300">
        <p>Your account request has been sent. An admin will review it.</p>
        <p>
          You can sign in once it is approved; until then, signing in only shows that your request is waiting.
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
}
