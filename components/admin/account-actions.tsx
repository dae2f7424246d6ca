"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { changeAccountStatusAction } from "@/app/actions/accounts";
import { Button } from "@/components/ui/button";

type Change = "approve" | "reject" | "suspend" | "reactivate";
const LABELS: Record<Change, string> = {
  approve: "Approve",
  reject: "Reject",
  suspend: "Suspend",
  reactivate: "Reactivate",
};

export function AccountActions({
  userId,
  username,
  changes,
}: {
  userId: string;
  username: string;
  changes: Change[];
}) {
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const router = useRouter();
  return (
    <div className="flex flex-col items-start gap-1 sm:items-end">
      <div className="flex gap-2">
        {changes.map((change) => (
          <Button
            key={change}
            variant={change === "approve" || change === "reactivate" ? "primary" : "danger"}
            pending={pending}
            aria-label={`${LABELS[change]} ${username}`}
            onClick={() =>
              startTransition(async () => {
                const res = await changeAccountStatusAction({ userId, change });
                if (!res.ok) setError(res.error.message);
                else {
                  setError(null);
                  router.refresh();
                }
              })
            }
          >
            {LABELS[change]}
          </Button>
        ))}
      </div>
      {error ? (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          {error}
        </p>
      ) : null}
    </div>
  );
}
