"use client";

import { useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Notice } from "@/components/ui/notice";
import type { ActionError, ActionResult } from "@/server/web/auth/wrappers";

export function ResetPasswordForm({
  token,
  username,
  action,
}: {
  token: string;
  username: string;
  action: (data: FormData) => Promise<ActionResult<never>>;
}) {
  const [error, setError] = useState<ActionError | null>(null);
  const [pending, startTransition] = useTransition();
  const fe = error?.fieldErrors ?? {};
  return (
    <form
      noValidate
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        startTransition(async () => {
          // Success redirects to the sign-in page.
          const res = await action(data);
          if (res && !res.ok) setError(res.error);
        });
      }}
    >
      {error ? <Notice>{error.message}</Notice> : null}
      <input type="hidden" name="token" value={token} />
      {/* For password managers: whose password this is. */}
      <input type="hidden" name="username" autoComplete="username" value={username} />
      <Field
        label="New password"
        name="password"
        type="password"
        autoComplete="new-password"
        error={fe.password}
        hint="At least 10 characters."
      />
      <Field
        label="Repeat the new password"
        name="confirm"
        type="password"
        autoComplete="new-password"
        error={fe.confirm}
      />
      <Button type="submit" pending={pending} className="w-full">
        {pending ? "Saving…" : "Set new password"}
      </Button>
    </form>
  );
}
