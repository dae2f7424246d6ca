"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Notice } from "@/components/ui/notice";
import type { BootOnceMode, BootOncePending } from "@/server/protocol/agent";
import type { ActionResult } from "@/server/web/auth/wrappers";

const OPTIONS: { mode: BootOnceMode; title: string; text: string }[] = [
  {
    mode: "single",
    title: "Single-user shell",
    text: "A root shell on the console, no login and nothing else started (init=/bin/sh): fix /etc/fstab or a lost password, then type reboot -f.",
  },
  {
    mode: "storage-ro",
    title: "Storage read-only",
    text: "Boots as usual with the storage disk (/data) attached read-only. After a power-off its journal needs replaying, which a read-only disk cannot: the boot then stops at a prompt, where mount -o ro,noload /dev/ubdc /data mounts it.",
  },
  {
    mode: "no-storage",
    title: "Without the storage disk",
    text: "Boots as usual without the storage disk attached, for a boot that hangs on it.",
  },
];

export const BOOT_ONCE_WORDS: Record<BootOnceMode, string> = {
  single: "a single-user shell",
  "storage-ro": "the storage disk read-only",
  "no-storage": "no storage disk",
};

const timeFmt = new Intl.DateTimeFormat("en-GB", { timeStyle: "short", timeZone: "UTC" });

/**
 * The VM page's "Rescue boot" section (issue 14 point 1): a one-shot option for the next start,
 * what is set and until when, and what the running boot was started with.
 */
export function BootOncePanel({
  vm,
  pending: initial,
  booted,
  canSet,
  setBootOnce,
}: {
  vm: string;
  pending: BootOncePending | null;
  booted: BootOnceMode | null;
  canSet: boolean;
  setBootOnce: (input: { name: string; mode: BootOnceMode | null }) => Promise<ActionResult<unknown>>;
}) {
  const router = useRouter();
  const [mode, setMode] = useState<BootOnceMode>(initial?.mode ?? "single");
  const [error, setError] = useState<string | null>(null);
  const [busy, start] = useTransition();
  const submit = (next: BootOnceMode | null) =>
    start(async () => {
      const res = await setBootOnce({ name: vm, mode: next });
      if (res.ok) {
        setError(null);
        router.refresh();
      } else setError(res.error.message);
    });
  return (
    <section aria-labelledby="rescue-heading" className="mt-8" data-testid="boot-once">
      <h2 id="rescue-heading" className="text-lg font-medium">
        Rescue boot
      </h2>
      <div className="mt-3 space-y-3 text-sm">
        {booted ? (
          <Notice tone="info">
            <span data-testid="booted-once">
              This boot was started with {BOOT_ONCE_WORDS[booted]}. The next boot is a normal one.
            </span>
          </Notice>
        ) : null}
        {initial ? (
          <Notice tone="info">
            <span data-testid="pending-once">
              The next start uses {BOOT_ONCE_WORDS[initial.mode]}, once (set by {initial.by}; unused, it
              lapses at {timeFmt.format(new Date(initial.expiresAt))} UTC).
            </span>
          </Notice>
        ) : (
          <p className="text-stone-600 dark:text-stone-400">
            For one boot only, when the VM does not come up: the option applies to the next start, then the VM
            boots normally again.
          </p>
        )}
        {canSet ? (
          <form
            className="space-y-3"
            onSubmit={(e) => {
              e.preventDefault();
              submit(mode);
            }}
          >
            <fieldset className="space-y-2">
              <legend className="sr-only">Rescue boot option</legend>
              {OPTIONS.map((o) => (
                <label key={o.mode} className="flex items-start gap-2">
                  <input
                    type="radio"
                    name="bootOnce"
                    value={o.mode}
                    checked={mode === o.mode}
                    onChange={() => setMode(o.mode)}
                    className="mt-0.5 size-4 accent-teal-700"
                  />
                  <span>
                    <span className="font-medium">{o.title}</span>
                    <span className="block text-stone-600 dark:text-stone-400">{o.text}</span>
                  </span>
                </label>
              ))}
            </fieldset>
            <div className="flex flex-wrap items-center gap-3">
              <Button type="submit" variant="secondary" pending={busy}>
                Use at the next boot
              </Button>
              {initial ? (
                <Button type="button" variant="secondary" disabled={busy} onClick={() => submit(null)}>
                  Cancel it
                </Button>
              ) : null}
              {error ? (
                <p role="alert" className="text-red-700 dark:text-red-400">
                  {error}
                </p>
              ) : null}
            </div>
          </form>
        ) : null}
      </div>
    </section>
  );
}
