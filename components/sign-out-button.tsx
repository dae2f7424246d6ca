"use client";

import { useTransition } from "react";
import { signOutAction } from "@/app/actions/auth";
import { Button } from "@/components/ui/button";

export function SignOutButton({
  variant = "quiet",
  label = "Sign out",
  className,
}: {
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
      onClick={() => startTransition(async () => void (await signOutAction({})))}
    >
      {label}
    </Button>
  );
}
