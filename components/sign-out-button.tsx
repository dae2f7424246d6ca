"use client";

import { useTransition } from "react";
import { Button } from "@/components/ui/button";

/** A wrapped sign-out action (passed down from the page: arrows point down). */
export type SignOut = (input: Record<string, never>) => Promise<unknown>;

export function SignOutButton({
  signOut,
  variant = "quiet",
  label = "Sign out",
  className,
}: {
  signOut: SignOut;
  variant?: "quiet" | "secondary";
  label?: string;
  className?: string;
}) {
  const [pending, startTransition] = useTransition();
  return (
    <Button
      variant={variant}
      className={className}
      pending={pending}
      onClick={() => startTransition(async () => void (await signOut({})))}
    >
      {label}
    </Button>
  );
}
