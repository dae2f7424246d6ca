"use client";

import { useState } from "react";
import { ActionMessage as Message, useAdminAction as useAction } from "@/components/admin/use-admin-action";
import { Button } from "@/components/ui/button";
import type { ActionResult } from "@/server/web/auth/wrappers";

/** Empty strings mean "no limit" (defaults) or "the default" (a member); the actions' schemas say null. */
export type VmLimitsInput = { maxCount: string; maxMemoryMiB: string; maxStorageGiB: string };
export type SetVmQuotaDefaults = (input: VmLimitsInput) => Promise<ActionResult<unknown>>;
export type SetMemberVmQuota = (input: { userId: string } & VmLimitsInput) => Promise<ActionResult<unknown>>;
type Limits = { maxCount: number | null; maxMemoryMiB: number | null; maxStorageGiB: number | null };

const input =
  "min-h-10 w-full rounded-lg border border-stone-300 bg-white px-3 text-sm outline-none focus-visible:ring-4 focus-visible:ring-teal-600/30 dark:border-stone-700 dark:bg-stone-950";

const text = (n: number | null) => (n === null ? "" : String(n));

/** Labels that never contain the provision form's ("Memory (MiB)", "VM name"): getByLabel matches parts. */
const FIELDS = [
  { key: "maxCount", short: "VMs", long: "Default VMs per member", limit: "VM count limit" },
  { key: "maxMemoryMiB", short: "MiB", long: "Default memory per member, MiB", limit: "Memory limit in MiB" },
  {
    key: "maxStorageGiB",
    short: "GiB",
    long: "Default storage per member, GiB",
    limit: "Storage limit in GiB",
  },
] as const;

function useLimits(initial: Limits) {
  const [values, setValues] = useState<VmLimitsInput>({
    maxCount: text(initial.maxCount),
    maxMemoryMiB: text(initial.maxMemoryMiB),
    maxStorageGiB: text(initial.maxStorageGiB),
  });
  return { values, set: (key: keyof VmLimitsInput, v: string) => setValues((old) => ({ ...old, [key]: v })) };
}

/** The default limits for every member, across their VMs (empty: no limit). */
export function VmQuotaDefaultsForm({ defaults, save }: { defaults: Limits; save: SetVmQuotaDefaults }) {
  const { pending, message, run } = useAction();
  const { values, set } = useLimits(defaults);
  return (
    <form
      data-testid="vm-quota-defaults"
      className="space-y-4 rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900"
      onSubmit={(e) => {
        e.preventDefault();
        run(() => save(values), "Saved.");
      }}
    >
      <p className="text-sm text-stone-600 dark:text-stone-400">
        Per member, all their VMs together. Empty means no limit. The host CLI is not held to them.
      </p>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-3">
        {FIELDS.map((f) => (
          <label key={f.key} className="space-y-1 text-sm">
            <span className="font-medium">{f.long}</span>
            <input
              className={input}
              inputMode="numeric"
              placeholder="no limit"
              value={values[f.key]}
              onChange={(e) => set(f.key, e.target.value)}
            />
          </label>
        ))}
      </div>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" pending={pending}>
          Save defaults
        </Button>
        <Message message={message} />
      </div>
    </form>
  );
}

/** One member's own limits (empty: the default). */
export function MemberVmQuotaForm({
  userId,
  username,
  own,
  save,
}: {
  userId: string;
  username: string;
  own: Limits;
  save: SetMemberVmQuota;
}) {
  const { pending, message, run } = useAction();
  const { values, set } = useLimits(own);
  return (
    <form
      className="flex flex-wrap items-end gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        run(() => save({ userId, ...values }), "Saved.");
      }}
    >
      {FIELDS.map((f) => (
        <label key={f.key} className="w-28 space-y-1 text-xs">
          <span>{f.short}</span>
          <input
            aria-label={`${f.limit} for ${username}`}
            className={input}
            inputMode="numeric"
            placeholder="default"
            value={values[f.key]}
            onChange={(e) => set(f.key, e.target.value)}
          />
        </label>
      ))}
      <Button type="submit" variant="secondary" pending={pending}>
        Save
      </Button>
      <Message message={message} />
    </form>
  );
}
