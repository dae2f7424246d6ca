"use client";

import Link from "next/link";
import { useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Notice } from "@/components/ui/notice";
import type { ActionError, ActionResult } from "@/server/web/auth/wrappers";

/** `requestAccount`: the wrapped account-request action, passed down by the page. */
export function SignupForm({
  requestAccount,
}: {
  requestAccount: (data: FormData) => Promise<ActionResult<unknown>>;
}) {
  const [error, setError] = useState<ActionError | null>(null);
  const [pending, startTransition] = useTransition();
  const fe = error?.fieldErrors ?? {};
  return (
    // onSubmit (not a form action) so React does not reset the fields: nothing typed is lost on an error.
    <form
      noValidate
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        startTransition(async () => {
          const res = await requestAccount(data);
          if (res && !res.ok) setError(res.error);
        });
      }}
    >
      {error ? <Notice>{error.message}</Notice> : null}
      <Field
        label="Username"
        name="username"
        autoComplete="username"
        maxLength={32}
        error={fe.username}
        hint="3–32 lowercase letters, digits or dashes. It also names your VM."
      />
      <Field label="Email" name="email" type="email" autoComplete="email" error={fe.email} />
      <Field label="Full name" name="name" autoComplete="name" maxLength={100} error={fe.name} />
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="new-password"
        error={fe.password}
        hint="At least 10 characters."
      />
      <Field
        label="Note to the admin"
        name="note"
        multiline
        maxLength={1000}
        error={fe.note}
        hint="Optional: who you are, what you need."
      />
      <Button type="submit" pending={pending} className="w-full">
        {pending ? "Sending…" : "Request account"}
      </Button>
      <p className="text-center text-sm text-stone-600 dark:text-stone-400">
        Already have an account?{" "}
        <Link
          href="/login"
          className="font-medium text-teal-700 underline-offset-4 hover:underline dark:text-teal-400"
        >
          Sign in
        </Link>
      </p>
    </form>
  );
}
