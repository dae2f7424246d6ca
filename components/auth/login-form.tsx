"use client";

import Link from "next/link";
import { useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Notice } from "@/components/ui/notice";
import type { ActionError, ActionResult } from "@/server/web/auth/wrappers";

/** `signIn`: the wrapped sign-in action, passed down by the page. */
export function LoginForm({ signIn }: { signIn: (data: FormData) => Promise<ActionResult<unknown>> }) {
  const [error, setError] = useState<ActionError | null>(null);
  const [pending, startTransition] = useTransition();
  return (
    <form
      noValidate
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const data = new FormData(e.currentTarget);
        startTransition(async () => {
          const res = await signIn(data);
          if (res && !res.ok) setError(res.error);
        });
      }}
    >
      {error && !error.fieldErrors ? <Notice>{error.message}</Notice> : null}
      <Field
        label="Username or email"
        name="identifier"
        autoComplete="username"
        error={error?.fieldErrors?.identifier}
      />
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="current-password"
        error={error?.fieldErrors?.password}
      />
      <Button type="submit" pending={pending} className="w-full">
        {pending ? "Signing in…" : "Sign in"}
      </Button>
      <p className="text-center text-sm text-stone-600 dark:text-stone-400">
        No account yet?{" "}
        <Link
          href="/signup"
          className="font-medium text-teal-700 underline-offset-4 hover:underline dark:text-teal-400"
        >
          Request one
        </Link>
      </p>
    </form>
  );
}
