"use client";

import { useTransition } from "react";
import { signOutAction } from "@/app/actions/auth";
import { Button } from "@/components/ui/button";

export function SignOutButton({ variant = "quiet" }: { variant?: "quiet" | "secondary" }) {
  const [pending, startTransition] = useTransition();
  return (
    <Button
      variant={variant}
      pending={pending}
      onClick={() => startTransition(async () => void (await signOutAction({})))}
    >
      Sign out
    </Button>
  );
}
