import type { Metadata } from "next";
import { PageShell } from "@/components/page-shell";
import { requireUser } from "@/server/web/dal/get-session";
import { listMyVms } from "@/server/web/dal/list-my-vms";

export const metadata: Metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  const caller = await requireUser();
  const vms = await listMyVms(caller);
  return (
    <PageShell
      caller={caller}
      title={`Hello, ${caller.name}`}
      description="Your virtual machines on this server."
    >
      <section aria-labelledby="vms-heading">
        <h2 id="vms-heading" className="text-lg font-medium">
          Your VMs
        </h2>
        {vms.length === 0 ? (
          <div className="mt-3 rounded-xl border border-dashed border-stone-300 px-6 py-10 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
            You have no VM yet. The admin provisions it for you.
          </div>
        ) : (
          <ul className="mt-3 grid gap-3 sm:grid-cols-2">
            {vms.map((vm) => (
              <li
                key={vm.id}
                className="rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900"
              >
                <p className="font-mono font-medium">{vm.name}</p>
                <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
                  {vm.image} · {vm.memoryMiB} MiB · {vm.storageGiB} GiB
                </p>
              </li>
            ))}
          </ul>
        )}
      </section>
    </PageShell>
  );
}
