"use client";

import { useTransition } from "react";
import { signOutAction } from "@/app/actions/auth";
import { Button } from "@/components/ui/button";

export function SignOutButton() {
  const [pending, startTransition] = useTransition();
  return (
    <Button
      variant="quiet"
      pending={pending}
      onClick={() => startTransition(async () => void (await signOutAction({})))}
    >
      Sign out
    </Button>
  );
}
