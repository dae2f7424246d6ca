import Link from "next/link";

/** Shown when the boot stopped at a prompt that needs a human (fsck, maintenance, panic). */
export function WaitingAtConsole({
  vmName,
  detail,
  rescueHint = false,
}: {
  vmName: string;
  detail: string | null;
  /** On the VM page: point at its Rescue boot section too. */
  rescueHint?: boolean;
}) {
  return (
    <div
      role="alert"
      className="flex flex-col gap-2 rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 sm:flex-row sm:items-center sm:justify-between dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
    >
      <p>
        <span className="font-semibold">Waiting at console</span>
        {detail ? <> — {detail}</> : null}. The boot needs you to answer a prompt
        {rescueHint ? (
          <>
            ; if you cannot,{" "}
            <a href="#rescue-heading" className="font-medium underline underline-offset-4">
              boot a rescue shell once
            </a>
          </>
        ) : null}
        .
      </p>
      <Link
        href={`/vms/${vmName}/console`}
        className="inline-flex min-h-9 shrink-0 items-center justify-center rounded-lg bg-amber-700 px-3 text-sm font-medium text-white hover:bg-amber-800 dark:bg-amber-500 dark:text-stone-950 dark:hover:bg-amber-400"
      >
        Go to the console
      </Link>
    </div>
  );
}
