import Link from "next/link";
import type { BootRecord } from "@/server/protocol/agent";
import { formatBytes } from "./network-view";
import { bootCauseText, bootEndText } from "./words";

const timeFmt = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});
const at = (iso: string | null) => (iso ? `${timeFmt.format(new Date(iso))} UTC` : "—");

const linkClass = "text-teal-800 underline-offset-4 hover:underline dark:text-teal-300";

/**
 * A VM's boots, newest first (issue 14 point 6): how each began and ended, and its console log to
 * read or download while the retention keeps it. A crash is shown in red with its last line.
 */
export function BootList({ vm, boots }: { vm: string; boots: BootRecord[] }) {
  if (boots.length === 0)
    return <p className="mt-3 text-sm text-stone-600 dark:text-stone-400">No boot recorded yet.</p>;
  return (
    <ol
      data-testid="boot-list"
      className="mt-3 divide-y divide-stone-200 rounded-xl border border-stone-200 bg-white text-sm dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900"
    >
      {boots.map((b) => (
        <li
          key={b.n}
          data-testid="boot"
          data-boot={b.n}
          data-end={b.end ?? (b.running ? "running" : "")}
          className="px-4 py-3"
        >
          <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
            <span className="font-medium">Boot {b.n}</span>
            <span className="text-stone-600 dark:text-stone-400">
              {bootCauseText(b.cause)} {at(b.startedAt)}
            </span>
            <span className="ml-auto flex gap-3">
              {b.logBytes !== null ? (
                <>
                  <Link href={`/vms/${vm}/boots/${b.n}`} className={linkClass}>
                    Console log
                  </Link>
                  <a href={`/api/vms/${vm}/boots/${b.n}?download=1`} className={linkClass} download>
                    Download ({formatBytes(b.logBytes)})
                  </a>
                </>
              ) : (
                <span className="text-stone-500">log not kept</span>
              )}
            </span>
          </div>
          <p
            data-testid="boot-end"
            className={
              b.end === "crash"
                ? "mt-1 text-red-700 dark:text-red-400"
                : "mt-1 text-stone-700 dark:text-stone-300"
            }
          >
            {bootEndText(b)}
            {b.endedAt ? ` · ${at(b.endedAt)}` : ""}
            {b.guestReboots > 0
              ? ` · rebooted from inside ${b.guestReboots === 1 ? "once" : `${b.guestReboots} times`}`
              : ""}
          </p>
        </li>
      ))}
    </ol>
  );
}
