"use client";

import { useRouter } from "next/navigation";
import { useId, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import type { ActionResult } from "@/server/web/auth/wrappers";

type Change = "approve" | "reject" | "suspend" | "reactivate";
const LABELS: Record<Change, string> = {
  approve: "Approve",
  reject: "Reject",
  suspend: "Suspend",
  reactivate: "Reactivate",
};

/** Reject and suspend ask first and take a reason that the member sees on their status page. */
const CONFIRM: Partial<Record<Change, { question: string; consequence: string; button: string }>> = {
  reject: {
    question: "Reject this request?",
    consequence: "The account cannot be used. The person sees your reason when they sign in.",
    button: "Reject request",
  },
  suspend: {
    question: "Suspend this account?",
    consequence:
      "They are signed out at once and cannot use their VM until you reactivate it (the VM is kept). They see your reason when they sign in.",
    button: "Suspend account",
  },
};

/** The wrapped account-status action, passed down by the page. */
export type ChangeAccountStatus = (input: {
  userId: string;
  change: Change;
  reason?: string;
}) => Promise<ActionResult<unknown>>;

export function AccountActions({
  userId,
  username,
  changes,
  changeStatus,
}: {
  userId: string;
  username: string;
  changes: Change[];
  changeStatus: ChangeAccountStatus;
}) {
  const id = useId();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<Change | null>(null);
  const [reason, setReason] = useState("");
  const router = useRouter();

  function run(change: Change) {
    startTransition(async () => {
      const res = await changeStatus({
        userId,
        change,
        ...(CONFIRM[change] ? { reason } : {}),
      });
      if (!res.ok) setError(res.error.fieldErrors?.reason ?? res.error.message);
      else {
        setError(null);
        setConfirming(null);
        setReason("");
        router.refresh();
      }
    });
  }

  const confirm = confirming ? CONFIRM[confirming] : undefined;
  return (
    // `contents`: the buttons sit in the row's button group; the question opens on its own line below.
    <div className="contents">
      {confirming && confirm ? (
        <div className="order-last flex basis-full justify-end">
          <form
            aria-label={`${LABELS[confirming]} ${username}`}
            className="w-full space-y-2 rounded-lg border border-red-200 bg-red-50/60 p-3 text-sm sm:w-96 dark:border-red-900 dark:bg-red-950/40"
            onSubmit={(e) => {
              e.preventDefault();
              run(confirming);
            }}
          >
            <p className="font-medium text-stone-900 dark:text-stone-100">{confirm.question}</p>
            <p className="text-stone-600 dark:text-stone-400">{confirm.consequence}</p>
            <label htmlFor={`${id}-reason`} className="block font-medium text-stone-700 dark:text-stone-300">
              Reason (optional, {username} sees it)
            </label>
            <textarea
              id={`${id}-reason`}
              rows={2}
              maxLength={500}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              className="block w-full rounded-lg border border-stone-300 bg-white px-3 py-2 text-base text-stone-900 outline-none focus:border-teal-600 focus:ring-2 focus:ring-teal-600/25 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100"
            />
            <div className="flex flex-wrap gap-2">
              <Button type="submit" variant="danger" pending={pending}>
                {confirm.button}
              </Button>
              <Button
                type="button"
                variant="quiet"
                onClick={() => {
                  setConfirming(null);
                  setError(null);
                }}
              >
                Cancel
              </Button>
            </div>
          </form>
        </div>
      ) : (
        <div className="flex gap-2">
          {changes.map((change) => (
            <Button
              key={change}
              variant={change === "approve" || change === "reactivate" ? "primary" : "danger"}
              pending={pending}
              aria-label={`${LABELS[change]} ${username}`}
              onClick={() => {
                setError(null);
                if (CONFIRM[change]) setConfirming(change);
                else run(change);
              }}
            >
              {LABELS[change]}
            </Button>
          ))}
        </div>
      )}
      {error ? (
        <p
          role="alert"
          className="order-last basis-full text-sm text-red-700 sm:text-right dark:text-red-400"
        >
          {error}
        </p>
      ) : null}
    </div>
  );
}
