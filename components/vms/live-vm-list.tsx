"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import type { VmsSnapshot } from "@/server/web/vms/stream-events";
import type { VmLive } from "@/server/web/vms/views";
import { MemoryFigure } from "./memory-figure";
import { formatUptime, useUptime, useVmEvents } from "./use-vm-events";
import { VmStateBadge } from "./vm-state-badge";
import { applyVmsEvent } from "./vm-view";
import { WaitingAtConsole } from "./waiting-at-console";

export type VmCard = { name: string; owner: string; image: string; memoryMiB: number; live: VmLive };

/**
 * The dashboard's VMs, kept live by the server's event stream. A VM the page does not know yet
 * (just provisioned) makes the page re-render on the server once.
 */
export function LiveVmList({
  vms,
  showOwner,
  empty,
}: {
  vms: VmCard[];
  showOwner?: boolean;
  empty?: React.ReactNode;
}) {
  const router = useRouter();
  const [live, setLive] = useState<Record<string, VmLive>>(() =>
    Object.fromEntries(vms.map((v) => [v.name, v.live])),
  );
  useEffect(() => {
    setLive((prev) => ({ ...Object.fromEntries(vms.map((v) => [v.name, v.live])), ...prev }));
  }, [vms]);
  const known = (names: string[]) => names.every((n) => vms.some((v) => v.name === n));
  useVmEvents<VmsSnapshot>("/api/events", {
    // Every (re)connection: VMs provisioned or destroyed meanwhile make the page re-render once.
    onSnapshot: (snapshot) => {
      if (!known(snapshot.vms.map((v) => v.name)) || snapshot.vms.length !== vms.length) router.refresh();
      setLive((prev) => applyVmsEvent(prev, { type: "snapshot", snapshot }));
    },
    onVm: (vm) => {
      if (!known([vm.name])) {
        router.refresh();
        return;
      }
      setLive((prev) => applyVmsEvent(prev, { type: "vm", vm }));
    },
  });
  if (vms.length === 0) return <>{empty}</>;
  return (
    <ul className="mt-3 grid grid-cols-1 gap-3 sm:grid-cols-2">
      {vms.map((vm) => (
        <VmItem key={vm.name} vm={vm} live={live[vm.name] ?? vm.live} showOwner={showOwner} />
      ))}
    </ul>
  );
}

function VmItem({ vm, live, showOwner }: { vm: VmCard; live: VmLive; showOwner?: boolean }) {
  const uptime = useUptime(live);
  const waiting = live.state === "running" && live.stage === "waiting-at-console";
  return (
    <li
      aria-label={`VM ${vm.name}`}
      className="space-y-3 rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900"
    >
      <div className="flex items-start justify-between gap-3">
        <div className="min-w-0">
          <Link
            href={`/vms/${vm.name}`}
            className="font-mono font-medium text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
          >
            {vm.name}
          </Link>
          <p className="mt-0.5 truncate text-sm text-stone-600 dark:text-stone-400">
            {showOwner ? `${vm.owner} · ` : ""}
            {vm.image}
          </p>
        </div>
        <VmStateBadge live={live} />
      </div>
      {waiting ? <WaitingAtConsole vmName={vm.name} detail={live.stageDetail} /> : null}
      <dl className="grid grid-cols-2 gap-2 text-sm">
        <div>
          <dt className="text-xs text-stone-500">Uptime</dt>
          <dd data-testid="vm-uptime" className="tabular-nums">
            {live.state === "running" ? formatUptime(uptime) : "—"}
          </dd>
        </div>
        <div>
          <dt className="text-xs text-stone-500">Memory</dt>
          <dd data-testid="vm-memory" className="tabular-nums">
            <MemoryFigure configuredMiB={vm.memoryMiB} live={live} />
          </dd>
        </div>
      </dl>
    </li>
  );
}
