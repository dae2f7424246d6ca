import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { signOutAction } from "@/app/actions/auth";
import { PageShell } from "@/components/page-shell";
import { requireUser } from "@/server/web/dal/get-session";
import { ActionFailure } from "@/server/web/errors";
import { readBootLog, tailOf } from "@/server/web/vms/boots";
import { vmOr404 } from "../../vm-or-404";

export const metadata: Metadata = { title: "Console log" };

/** What the page shows of a log: its end, where a boot fails (the download has all of it). */
const SHOWN_BYTES = 512 * 1024;

const linkClass = "text-teal-800 underline-offset-4 hover:underline dark:text-teal-300";

export default async function BootLogPage({ params }: { params: Promise<{ name: string; n: string }> }) {
  const caller = await requireUser();
  const { name, n: nText } = await params;
  const n = Number(nText);
  if (!/^[1-9][0-9]{0,8}$/.test(nText)) notFound();
  const vm = await vmOr404(caller, name);
  let log: Awaited<ReturnType<typeof tailOf>>;
  try {
    log = await tailOf((await readBootLog(caller, vm.name, n)).body, SHOWN_BYTES);
  } catch (e) {
    if (e instanceof ActionFailure && (e.code === "not-found" || e.code === "forbidden")) notFound();
    throw e;
  }
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title={`Boot ${n} of ${vm.name}`}
      description="What the console said during this boot, as text."
    >
      <p className="-mt-4 mb-4 flex gap-4 text-sm">
        <Link href={`/vms/${vm.name}/boots`} className={linkClass}>
          ← Boots
        </Link>
        <a href={`/api/vms/${vm.name}/boots/${n}?download=1`} className={linkClass} download>
          Download the whole log
        </a>
      </p>
      {log.cut ? (
        <p className="mb-2 text-sm text-stone-600 dark:text-stone-400">
          Its last {SHOWN_BYTES / 1024} KiB; the download has all of it.
        </p>
      ) : null}
      {/* Scrolled to its end from the start (column-reverse): where a boot fails is at the bottom. */}
      <div className="flex max-h-[70vh] flex-col-reverse overflow-auto rounded-xl bg-stone-950">
        <pre
          data-testid="boot-log"
          className="whitespace-pre-wrap break-words p-4 font-mono text-xs text-stone-100"
        >
          {log.text || "(nothing was written to the console)"}
        </pre>
      </div>
    </PageShell>
  );
}
