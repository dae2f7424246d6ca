"use client";

import { useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import type { ActionResult } from "@/server/web/auth/wrappers";

type Issued = { username: string; link: string; expiresAt: string };

const timeFmt = new Intl.DateTimeFormat("en-GB", { timeStyle: "short", timeZone: "UTC" });

/** Issues a one-time reset link and shows it for the admin to pass on (there is no mail yet). */
export function ResetLinkButton({
  userId,
  username,
  action,
}: {
  userId: string;
  username: string;
  action: (input: { userId: string }) => Promise<ActionResult<Issued>>;
}) {
  const [pending, startTransition] = useTransition();
  const [issued, setIssued] = useState<Issued | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  return (
    // `contents`: the button sits in the row's button group; the link opens on its own line below.
    <div className="contents">
      <Button
        variant="secondary"
        pending={pending}
        aria-label={`Reset link for ${username}`}
        onClick={() =>
          startTransition(async () => {
            setCopied(false);
            const res = await action({ userId });
            if (res.ok) {
              setIssued(res.data);
              setError(null);
            } else setError(res.error.message);
          })
        }
      >
        {issued ? "New reset link" : "Reset link"}
      </Button>
      {issued ? (
        <div className="order-last flex basis-full justify-end">
          <div
            data-testid="reset-link"
            className="w-full space-y-2 rounded-lg border border-stone-200 bg-stone-50 p-3 text-sm sm:w-96 dark:border-stone-800 dark:bg-stone-950"
          >
            <p className="text-stone-700 dark:text-stone-300">
              Give this link to {issued.username} yourself (it is not sent anywhere). It works once, until{" "}
              {timeFmt.format(new Date(issued.expiresAt))} UTC; a newer link replaces it.
            </p>
            <input
              readOnly
              aria-label={`Reset link for ${issued.username}`}
              value={issued.link}
              onFocus={(e) => e.currentTarget.select()}
              className="block w-full rounded-md border border-stone-300 bg-white px-2 py-1.5 font-mono text-xs text-stone-900 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100"
            />
            <Button
              variant="quiet"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(issued.link);
                  setCopied(true);
                } catch {
                  setCopied(false);
                }
              }}
            >
              {copied ? "Copied" : "Copy link"}
            </Button>
          </div>
        </div>
      ) : null}
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
