"use client";

import { useState } from "react";
import { Button } from "@/components/ui/button";
import type { ActionResult } from "@/server/web/auth/wrappers";
import { ActionMessage, useAdminAction } from "./use-admin-action";

/** The admin's wrapped host actions (app/actions/host.ts), passed down by the page. */
export type SetDiskReserve = (input: {
  kind: "percent" | "gib";
  value: number;
}) => Promise<ActionResult<unknown>>;
export type SetBootLogRetention = (input: { host: string; keep: number }) => Promise<ActionResult<unknown>>;
export type ResumeVm = (input: { name: string }) => Promise<ActionResult<unknown>>;

const input =
  "min-h-10 rounded-lg border border-stone-300 bg-white px-3 text-sm outline-none focus-visible:ring-4 focus-visible:ring-teal-600/30 dark:border-stone-700 dark:bg-stone-950";

/** The free-space reserve: a share of the data disk or a fixed size. */
export function DiskReserveForm({
  reserve,
  save,
}: {
  reserve: { percent: number } | { bytes: number };
  save: SetDiskReserve;
}) {
  const { pending, message, run } = useAdminAction();
  const [kind, setKind] = useState<"percent" | "gib">("percent" in reserve ? "percent" : "gib");
  const [value, setValue] = useState(
    "percent" in reserve
      ? String(reserve.percent)
      : String(Math.round((reserve.bytes / 1024 ** 3) * 100) / 100),
  );
  return (
    <form
      data-testid="disk-reserve-form"
      className="mt-3 space-y-2 border-t border-stone-200 pt-3 dark:border-stone-800"
      onSubmit={(e) => {
        e.preventDefault();
        run(() => save({ kind, value: Number(value) }), "Reserve saved.");
      }}
    >
      <label className="block text-sm font-medium" htmlFor="disk-reserve-value">
        Free-space reserve
      </label>
      <div className="flex flex-wrap items-center gap-2">
        <input
          id="disk-reserve-value"
          className={`${input} w-28`}
          inputMode="decimal"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        <select
          aria-label="Unit"
          className={input}
          value={kind}
          onChange={(e) => setKind(e.target.value === "gib" ? "gib" : "percent")}
        >
          <option value="percent">% of disk</option>
          <option value="gib">GiB</option>
        </select>
        <Button type="submit" variant="secondary" pending={pending}>
          Save
        </Button>
      </div>
      <p className="text-xs text-stone-500">
        New VMs, storage growth and snapshots are refused when they could cross it; a VM that writes while
        free space is below it is paused until space is freed.
      </p>
      <ActionMessage message={message} />
    </form>
  );
}

/** How many boots' console logs each VM keeps on this host. */
export function BootLogRetentionForm({
  host,
  keep,
  save,
}: {
  host: string;
  keep: number;
  save: SetBootLogRetention;
}) {
  const { pending, message, run } = useAdminAction();
  const [value, setValue] = useState(String(keep));
  return (
    <form
      data-testid="boot-logs-form"
      className="mt-3 space-y-2 border-t border-stone-200 pt-3 dark:border-stone-800"
      onSubmit={(e) => {
        e.preventDefault();
        run(() => save({ host, keep: Number(value) }), "Saved.");
      }}
    >
      <label className="block text-sm font-medium" htmlFor="boot-logs-keep">
        Console logs kept per VM
      </label>
      <div className="flex flex-wrap items-center gap-2">
        <input
          id="boot-logs-keep"
          className={`${input} w-28`}
          inputMode="numeric"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        <span className="text-sm text-stone-600 dark:text-stone-400">boots</span>
        <Button type="submit" variant="secondary" pending={pending}>
          Save
        </Button>
      </div>
      <p className="text-xs text-stone-500">
        Each boot&apos;s console log (up to 8 MiB) is kept for members to read why a boot failed; a VM&apos;s
        oldest go at its next boot.
      </p>
      <ActionMessage message={message} />
    </form>
  );
}

/** Resume a VM the host paused for disk space (it is paused again if it keeps writing below the reserve). */
export function ResumeVmButton({ name, resume }: { name: string; resume: ResumeVm }) {
  const { pending, message, run } = useAdminAction();
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      <Button variant="secondary" pending={pending} onClick={() => run(() => resume({ name }), "Resumed.")}>
        Resume {name}
      </Button>
      <ActionMessage message={message} />
    </span>
  );
}
