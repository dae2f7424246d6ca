"use client";

import { useState } from "react";
import { ActionMessage as Message, useAdminAction as useAction } from "@/components/admin/use-admin-action";
import { Button } from "@/components/ui/button";
import type { ActionResult } from "@/server/web/auth/wrappers";

/** The admin's wrapped snapshot actions, each passed down by the page (arrows point down). */
type Act<I> = (input: I) => Promise<ActionResult<unknown>>;
export type SetSnapshotDefaults = Act<{ policy: "immediate" | "approval"; maxCount: number; maxGiB: number }>;
/** Empty strings mean "the default" (the action's schema turns them into null). */
export type SetMemberSnapshotQuota = Act<{ userId: string; maxCount: string; maxGiB: string }>;
export type DecideSnapshot = Act<{ snapshotId: string }>;

const input =
  "min-h-10 w-full rounded-lg border border-stone-300 bg-white px-3 text-sm outline-none focus-visible:ring-4 focus-visible:ring-teal-600/30 dark:border-stone-700 dark:bg-stone-950";

const GiB = 1024 ** 3;
const gib = (bytes: number) => String(Math.round((bytes / GiB) * 100) / 100);

/** Policy switch and default limits. */
export function SnapshotDefaultsForm({
  defaults,
  save,
}: {
  save: SetSnapshotDefaults;
  defaults: { policy: "immediate" | "approval"; maxCount: number; maxBytes: number };
}) {
  const { pending, message, run } = useAction();
  const [policy, setPolicy] = useState(defaults.policy);
  const [maxCount, setMaxCount] = useState(String(defaults.maxCount));
  const [maxGiB, setMaxGiB] = useState(gib(defaults.maxBytes));
  return (
    <form
      data-testid="snapshot-defaults"
      className="space-y-4 rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900"
      onSubmit={(e) => {
        e.preventDefault();
        run(() => save({ policy, maxCount: Number(maxCount), maxGiB: Number(maxGiB) }), "Saved.");
      }}
    >
      <fieldset>
        <legend className="text-sm font-medium">When a member takes a snapshot</legend>
        <div className="mt-2 flex flex-col gap-2 sm:flex-row sm:gap-6">
          <label className="flex items-center gap-2 text-sm">
            <input
              type="radio"
              name="policy"
              value="immediate"
              checked={policy === "immediate"}
              onChange={() => setPolicy("immediate")}
              className="size-4 accent-teal-700"
            />
            It runs at once
          </label>
          <label className="flex items-center gap-2 text-sm">
            <input
              type="radio"
              name="policy"
              value="approval"
              checked={policy === "approval"}
              onChange={() => setPolicy("approval")}
              className="size-4 accent-teal-700"
            />
            It waits for my approval
          </label>
        </div>
      </fieldset>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        <label className="space-y-1 text-sm">
          <span className="font-medium">Default snapshot count per member</span>
          <input
            className={input}
            inputMode="numeric"
            value={maxCount}
            onChange={(e) => setMaxCount(e.target.value)}
          />
        </label>
        <label className="space-y-1 text-sm">
          <span className="font-medium">Default space per member (GiB)</span>
          <input
            className={input}
            inputMode="decimal"
            value={maxGiB}
            onChange={(e) => setMaxGiB(e.target.value)}
          />
        </label>
      </div>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" pending={pending}>
          Save policy and defaults
        </Button>
        <Message message={message} />
      </div>
    </form>
  );
}

/** One member's override (empty = the default). */
export function MemberQuotaForm({
  userId,
  username,
  overrideCount,
  overrideBytes,
  save,
}: {
  save: SetMemberSnapshotQuota;
  userId: string;
  username: string;
  overrideCount: number | null;
  overrideBytes: number | null;
}) {
  const { pending, message, run } = useAction();
  const [count, setCount] = useState(overrideCount === null ? "" : String(overrideCount));
  const [giB, setGiB] = useState(overrideBytes === null ? "" : gib(overrideBytes));
  return (
    <form
      className="flex flex-wrap items-end gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        run(() => save({ userId, maxCount: count, maxGiB: giB }), "Saved.");
      }}
    >
      <label className="w-24 space-y-1 text-xs">
        <span>Count</span>
        <input
          aria-label={`Snapshot count for ${username}`}
          className={input}
          inputMode="numeric"
          placeholder="default"
          value={count}
          onChange={(e) => setCount(e.target.value)}
        />
      </label>
      <label className="w-24 space-y-1 text-xs">
        <span>GiB</span>
        <input
          aria-label={`Snapshot GiB for ${username}`}
          className={input}
          inputMode="decimal"
          placeholder="default"
          value={giB}
          onChange={(e) => setGiB(e.target.value)}
        />
      </label>
      <Button type="submit" variant="secondary" pending={pending}>
        Save
      </Button>
      <Message message={message} />
    </form>
  );
}

export function ApproveButtons({
  snapshotId,
  approve,
  reject,
}: {
  snapshotId: string;
  approve: DecideSnapshot;
  reject: DecideSnapshot;
}) {
  const { pending, message, run } = useAction();
  return (
    <div className="flex flex-wrap items-center gap-2">
      <Button
        className="min-h-9 px-3"
        pending={pending}
        onClick={() => run(() => approve({ snapshotId }), "Approved.")}
      >
        Approve
      </Button>
      <Button
        variant="danger"
        className="min-h-9 px-3"
        pending={pending}
        onClick={() => run(() => reject({ snapshotId }), "Rejected.")}
      >
        Reject
      </Button>
      <Message message={message} />
    </div>
  );
}
