import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { openConsoleAction } from "@/app/actions/console";
import { vmPowerAction } from "@/app/actions/vms";
import { ConsoleView } from "@/components/console/console-view";
import { findConsoleVm } from "@/server/web/console/issue-console-ticket";
import { requireUser } from "@/server/web/dal/get-session";
import { Slug } from "@/server/web/domain";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { pageLive } from "@/server/web/vms/hub";

export async function generateMetadata({ params }: { params: Promise<{ name: string }> }): Promise<Metadata> {
  const { name } = await params;
  return { title: Slug.safeParse(name).success ? `${name} console` : "Console" };
}

/** The VM's console, filling the window. xterm.js is loaded by ConsoleView on this route only. */
export default async function ConsolePage({ params }: { params: Promise<{ name: string }> }) {
  const caller = await requireUser();
  const { name } = await params;
  if (!Slug.safeParse(name).success) notFound();
  // Someone else's VM and a missing VM look the same.
  const vm = await findConsoleVm(caller, name);
  if (!vm) notFound();
  await ensureTaskPipeline();
  const live = await pageLive(vm.name);
  return (
    <ConsoleView
      vmName={vm.name}
      issueTicket={openConsoleAction}
      canCtrlAltDel={vm.canCtrlAltDel}
      backHref={`/vms/${vm.name}`}
      owner={vm.ownerUsername === caller.username ? undefined : vm.ownerUsername}
      initialVm={{ state: live.state, stage: live.stage, bootId: live.bootId, at: live.at }}
      // Start needs the same permission as Ctrl-Alt-Del (vm.power, or vm.power.any for an admin).
      startVm={vm.canCtrlAltDel ? vmPowerAction : undefined}
    />
  );
}
