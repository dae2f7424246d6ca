"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

type Outcome = { ok: boolean; error?: { message: string; fieldErrors?: Record<string, string> } };

/** Runs a wrapped admin action: pending state, a one-line outcome, the page refreshed on success. */
export function useAdminAction() {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const run = (fn: () => Promise<Outcome>, okText: string) =>
    start(async () => {
      const res = await fn();
      if (res.ok) {
        setMessage({ ok: true, text: okText });
        router.refresh();
      } else {
        const fields = Object.values(res.error?.fieldErrors ?? {}).join("; ");
        setMessage({ ok: false, text: `${res.error?.message ?? "Failed."}${fields ? ` ${fields}` : ""}` });
      }
    });
  return { pending, message, run };
}

export function ActionMessage({ message }: { message: { ok: boolean; text: string } | null }) {
  if (!message) return null;
  return (
    <p
      role={message.ok ? "status" : "alert"}
      className={`text-sm ${message.ok ? "text-teal-800 dark:text-teal-300" : "text-red-700 dark:text-red-400"}`}
    >
      {message.text}
    </p>
  );
}
