import type { Metadata } from "next";
import { PageShell } from "@/components/page-shell";
import { LiveVmList } from "@/components/vms/live-vm-list";
import { requireUser } from "@/server/web/dal/get-session";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { readLive } from "@/server/web/vms/hub";
import { ensureVmService } from "@/server/web/vms/service";

export const metadata: Metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  const caller = await requireUser();
  await ensureVmService();
  const vms = await listVmsForCaller(caller);
  const cards = await Promise.all(
    vms.map(async (vm) => ({
      name: vm.name,
      owner: vm.ownerUsername,
      image: vm.image,
      memoryMiB: vm.memoryMiB,
      live: await readLive(vm.name),
    })),
  );
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
        <LiveVmList
          vms={cards}
          empty={
            <div className="mt-3 rounded-xl border border-dashed border-stone-300 px-6 py-10 text-center text-sm text-stone-600 dark:border-stone-700 dark:text-stone-400">
              You have no VM yet. The admin provisions it for you.
            </div>
          }
        />
      </section>
    </PageShell>
  );
}
