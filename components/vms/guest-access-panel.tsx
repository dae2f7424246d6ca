"use client";

import Link from "next/link";
import { useRef, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Notice } from "@/components/ui/notice";
import type { VmAccessInfo } from "@/server/protocol/agent";
import type { ActionError, ActionResult } from "@/server/web/auth/wrappers";

/**
 * The VM page's "Access" section (issue 12 point 4): the VM's SSH host-key fingerprints (to check
 * the first `ssh` connection against), how many of the owner's keys and whether a root password
 * it gets, whether a change still waits for the next boot, and the root password form.
 */
export function GuestAccessPanel({
  vm,
  info,
  isOwner,
  canSetPassword,
  setPassword,
}: {
  vm: string;
  info: VmAccessInfo | null;
  isOwner: boolean;
  canSetPassword: boolean;
  setPassword: (data: FormData) => Promise<ActionResult<{ appliesAtNextBoot: boolean }>>;
}) {
  const form = useRef<HTMLFormElement>(null);
  const [error, setError] = useState<ActionError | null>(null);
  const [saved, setSaved] = useState(false);
  const [pending, startTransition] = useTransition();
  const fe = error?.fieldErrors ?? {};
  return (
    <section aria-labelledby="access-heading" className="mt-8">
      <h2 id="access-heading" className="text-lg font-medium">
        Access
      </h2>
      {info === null ? (
        <p className="mt-3 text-sm text-stone-600 dark:text-stone-400">
          The host did not answer; try again soon.
        </p>
      ) : (
        <div className="mt-3 space-y-3 text-sm">
          {info.appliesAtNextBoot ? (
            <Notice tone="info">A change to keys or the root password applies at this VM's next boot.</Notice>
          ) : null}
          <p>
            Root accepts {info.sshKeyCount === 1 ? "1 SSH key" : `${info.sshKeyCount} SSH keys`}{" "}
            {isOwner ? (
              <>
                (
                <Link
                  href="/account"
                  className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
                >
                  your keys
                </Link>
                )
              </>
            ) : (
              "(the owner's keys)"
            )}
            ; its console login{" "}
            {info.rootPasswordSet ? "asks for the root password set here" : "is as the image has it"}.
          </p>
          <div>
            <p className="text-stone-600 dark:text-stone-400">
              SSH host keys (check them at your first connection):
            </p>
            <ul className="mt-1 space-y-1" aria-label="SSH host keys">
              {info.hostKeys.map((k) => (
                <li key={k.type} data-testid="host-key" className="flex flex-wrap gap-x-3">
                  <span className="w-16 text-stone-500">{k.type}</span>
                  <code className="break-all text-xs">{k.fingerprint}</code>
                </li>
              ))}
            </ul>
          </div>
        </div>
      )}
      {canSetPassword ? (
        <form
          ref={form}
          noValidate
          aria-label="Set the root password"
          className="mt-4 max-w-md space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            const data = new FormData(e.currentTarget);
            data.set("name", vm);
            startTransition(async () => {
              const res = await setPassword(data);
              if (!res.ok) {
                setSaved(false);
                setError(res.error);
                return;
              }
              setError(null);
              setSaved(true);
              form.current?.reset();
            });
          }}
        >
          {error ? <Notice>{error.message}</Notice> : null}
          {saved && !error ? (
            <Notice tone="success">Root password set: the VM uses it from its next boot.</Notice>
          ) : null}
          <Field
            label="New root password"
            name="password"
            type="password"
            autoComplete="new-password"
            error={fe.password}
            hint="For the VM's console; at least 10 characters. It is stored only as a hash."
          />
          <Field
            label="Repeat it"
            name="confirm"
            type="password"
            autoComplete="new-password"
            error={fe.confirm}
          />
          <Button type="submit" variant="secondary" pending={pending}>
            {pending ? "Setting…" : "Set root password"}
          </Button>
        </form>
      ) : null}
    </section>
  );
}
