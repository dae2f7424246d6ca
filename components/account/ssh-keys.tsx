"use client";

import { useRef, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Field } from "@/components/ui/field";
import { Notice } from "@/components/ui/notice";
import type { ActionError, ActionResult } from "@/server/web/auth/wrappers";

export type SshKeyView = { id: string; label: string; type: string; fingerprint: string; createdAt: string };

/**
 * /account: the member's SSH public keys (root's keys in each of their VMs from its next boot):
 * the list with each fingerprint (compare with `ssh-keygen -lf ~/.ssh/id_ed25519.pub`), a form
 * to add one, a Remove button per key. An error keeps what was typed.
 */
export function SshKeys({
  keys,
  add,
  remove,
}: {
  keys: SshKeyView[];
  add: (data: FormData) => Promise<ActionResult<{ fingerprint: string }>>;
  remove: (input: { id: string }) => Promise<ActionResult<{ removed: boolean }>>;
}) {
  const form = useRef<HTMLFormElement>(null);
  const [error, setError] = useState<ActionError | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();
  const fe = error?.fieldErrors ?? {};
  return (
    <div className="max-w-2xl space-y-4">
      {keys.length === 0 ? (
        <p className="text-sm text-stone-600 dark:text-stone-400">
          No keys yet. Add one to log in to your VMs with <code>ssh root@…</code>.
        </p>
      ) : (
        <ul
          aria-label="Your SSH keys"
          className="divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900"
        >
          {keys.map((k) => (
            <li
              key={k.id}
              data-testid="ssh-key"
              className="flex flex-wrap items-center gap-x-4 gap-y-1 px-4 py-3"
            >
              <span className="font-medium">{k.label}</span>
              <span className="text-stone-500">{k.type}</span>
              <code className="min-w-0 break-all text-xs" data-testid="ssh-key-fingerprint">
                {k.fingerprint}
              </code>
              <Button
                variant="quiet"
                className="ml-auto"
                aria-label={`Remove key ${k.label}`}
                disabled={pending}
                onClick={() =>
                  startTransition(async () => {
                    const res = await remove({ id: k.id });
                    setAdded(null);
                    setError(res.ok ? null : res.error);
                  })
                }
              >
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      <form
        ref={form}
        noValidate
        aria-label="Add an SSH key"
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget);
          startTransition(async () => {
            const res = await add(data);
            if (!res.ok) {
              setAdded(null);
              setError(res.error);
              return;
            }
            setError(null);
            setAdded(res.data.fingerprint);
            form.current?.reset();
          });
        }}
      >
        {error ? <Notice>{error.message}</Notice> : null}
        {added && !error ? (
          <Notice tone="success">Key {added} added: your VMs let it in as root from their next boot.</Notice>
        ) : null}
        <Field
          label="Name"
          name="label"
          maxLength={60}
          error={fe.label}
          hint="Where the key lives, e.g. laptop."
        />
        <Field
          label="Public key"
          name="publicKey"
          multiline
          error={fe.publicKey}
          hint="One line from your .pub file, e.g. ssh-ed25519 AAAA… you@laptop."
        />
        <Button type="submit" pending={pending}>
          {pending ? "Adding…" : "Add key"}
        </Button>
      </form>
    </div>
  );
}
