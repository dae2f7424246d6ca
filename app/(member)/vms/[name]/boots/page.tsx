import type { Metadata } from "next";
import Link from "next/link";
import { signOutAction } from "@/app/actions/auth";
import { PageShell } from "@/components/page-shell";
import { BootList } from "@/components/vms/boot-list";
import { requireUser } from "@/server/web/dal/get-session";
import { listVmBoots } from "@/server/web/vms/boots";
import { vmOr404 } from "../vm-or-404";

export const metadata: Metadata = { title: "Boots" };

export default async function BootsPage({ params }: { params: Promise<{ name: string }> }) {
  const caller = await requireUser();
  const { name } = await params;
  const vm = await vmOr404(caller, name);
  const boots = await listVmBoots(caller, vm.name);
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title={`Boots of ${vm.name}`}
      description="Every boot with how it began and ended, and what its console said."
    >
      <p className="-mt-4 mb-4 text-sm">
        <Link
          href={`/vms/${vm.name}`}
          className="text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
        >
          ← {vm.name}
        </Link>
      </p>
      {boots ? (
        <>
          <p className="text-sm text-stone-600 dark:text-stone-400">
            The host keeps the console logs of each VM&apos;s last {boots.keep} boots (the admin sets how
            many); a reboot from inside the VM continues in the same log.
          </p>
          <BootList vm={vm.name} boots={boots.boots} />
        </>
      ) : (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          The host of {vm.name} did not answer; its boots cannot be listed now.
        </p>
      )}
    </PageShell>
  );
}
