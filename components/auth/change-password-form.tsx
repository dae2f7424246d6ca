"use client";

import { useRef, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Notice } from "@/components/ui/notice";
import type { ActionError, ActionResult } from "@/server/web/auth/wrappers";

export function ChangePasswordForm({
  action,
  changed,
}: {
  /** Redirects to /account?changed=1 on success. */
  action: (data: FormData) => Promise<ActionResult<never>>;
  /** The page was loaded right after a change. */
  changed: boolean;
}) {
  const form = useRef<HTMLFormElement>(null);
  const [error, setError] = useState<ActionError | null>(null);
  const [pending, startTransition] = useTransition();
  const fe = error?.fieldErrors ?? {};
  return (
    // onSubmit (not a form action): on an error nothing typed is lost.
    <form
      ref={form}
      noValidate
      aria-label="Change password"
      className="max-w-md space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        startTransition(async () => {
          const res = await action(data);
          if (res && !res.ok) {
            setError(res.error);
            return;
          }
          setError(null);
          form.current?.reset();
        });
      }}
    >
      {error ? <Notice>{error.message}</Notice> : null}
      {changed && !error ? (
        <Notice tone="success">
          Password changed. Every other browser and device signed in as you has been signed out.
        </Notice>
      ) : null}
      <Field
        label="Current password"
        name="current"
        type="password"
        autoComplete="current-password"
        error={fe.current}
      />
      <Field
        label="New password"
        name="next"
        type="password"
        autoComplete="new-password"
        error={fe.next}
        hint="At least 10 characters."
      />
      <Field
        label="Repeat the new password"
        name="confirm"
        type="password"
        autoComplete="new-password"
        error={fe.confirm}
      />
      <Button type="submit" pending={pending}>
        {pending ? "Changing…" : "Change password"}
      </Button>
    </form>
  );
}
