"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useId, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Notice } from "@/components/ui/notice";
import { useVmEvents } from "@/components/vms/use-vm-events";
import { VmStateBadge } from "@/components/vms/vm-state-badge";
import type { ActionResult } from "@/server/web/auth/wrappers";
import type { VmLive } from "@/server/web/vms/views";

type Result = ActionResult<unknown>;

export type VmManageActions = {
  setMemory: (input: { name: string; memoryMiB: number }) => Promise<Result>;
  setAutostart: (input: { name: string; autostart: boolean }) => Promise<Result>;
  growStorage: (input: { name: string; storageGiB: number }) => Promise<Result>;
  changeOwner: (input: { name: string; ownerId: string }) => Promise<Result>;
  move: (input: { name: string; host: string }) => Promise<Result>;
  destroy: (input: { name: string; confirm: string; keepSnapshots: boolean }) => Promise<Result>;
};

export type VmManageProps = {
  vm: {
    name: string;
    ownerId: string;
    ownerUsername: string;
    memoryMiB: number;
    storageGiB: number;
    autostart: boolean;
    snapshotCount: number;
    host: string;
  };
  live: VmLive;
  owners: { id: string; username: string; name: string }[];
  /** Every host a VM can live on ("local" and the joined ones); one host: no move card. */
  hosts: string[];
  actions: VmManageActions;
};

type Feedback = { tone: "error" | "success"; text: string; field?: string } | null;

const inputClass =
  "block w-full rounded-lg border border-stone-300 bg-white px-3 py-2 text-base text-stone-900 shadow-xs outline-none focus:border-teal-600 focus:ring-2 focus:ring-teal-600/25 disabled:opacity-60 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100 dark:focus:border-teal-400";

/** The admin's settings of one VM: memory, storage, owner, autostart, and destroy. */
export function VmManage({ vm, live: initialLive, owners, hosts, actions }: VmManageProps) {
  const [live, setLive] = useState(initialLive);
  useVmEvents("/api/events", {
    onVm: (next) => {
      if (next.name === vm.name) setLive(next);
    },
  });
  const stopped = live.state === "stopped" || live.state === "crashed";
  const offer = destroyOffer(live);
  return (
    <div className="space-y-6">
      <section
        aria-label="State"
        className="flex flex-wrap items-center justify-between gap-3 rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900"
      >
        <div className="flex min-w-0 flex-wrap items-center gap-3">
          <VmStateBadge live={live} />
          <span className="text-sm text-stone-600 dark:text-stone-400">
            Owner <span className="font-mono">{vm.ownerUsername}</span>
          </span>
        </div>
        <Link
          href={`/vms/${vm.name}`}
          className="text-sm font-medium text-teal-800 underline-offset-4 hover:underline dark:text-teal-300"
        >
          Open the VM page (power, console) →
        </Link>
        {stopped || offer !== "wait" ? null : (
          <p className="w-full text-sm text-stone-600 dark:text-stone-400">
            Storage and owner changes, and destroy, need the VM shut down: use Shut down on the VM page.
          </p>
        )}
      </section>
      <div className="grid gap-6 md:grid-cols-2">
        <MemoryCard vm={vm} live={live} action={actions.setMemory} />
        <StorageCard vm={vm} stopped={stopped} action={actions.growStorage} />
        <OwnerCard vm={vm} stopped={stopped} owners={owners} action={actions.changeOwner} />
        <AutostartCard vm={vm} action={actions.setAutostart} />
        {hosts.length > 1 ? <HostCard vm={vm} stopped={stopped} hosts={hosts} action={actions.move} /> : null}
      </div>
      {offer === "finish" || offer === "finishing" ? (
        <FinishDestroyCard vm={vm} running={offer === "finishing"} action={actions.destroy} />
      ) : (
        <DestroyCard vm={vm} stopped={stopped} action={actions.destroy} />
      )}
    </div>
  );
}

function Card({ title, children, danger }: { title: string; children: React.ReactNode; danger?: boolean }) {
  const id = useId();
  return (
    <section
      aria-labelledby={id}
      className={`space-y-3 rounded-xl border bg-white p-4 dark:bg-stone-900 ${danger ? "border-red-200 dark:border-red-900" : "border-stone-200 dark:border-stone-800"}`}
    >
      <h2 id={id} className="text-base font-medium">
        {title}
      </h2>
      {children}
    </section>
  );
}

function useSubmit() {
  const [pending, startTransition] = useTransition();
  const [feedback, setFeedback] = useState<Feedback>(null);
  const router = useRouter();
  const submit = (run: () => Promise<Result>, success: string, after?: () => void, onError?: () => void) =>
    startTransition(async () => {
      const res = await run();
      if (!res.ok) {
        const [field, text] = Object.entries(res.error.fieldErrors ?? {})[0] ?? [];
        setFeedback({ tone: "error", text: text ?? res.error.message, field });
        onError?.();
        return;
      }
      if (res.data && typeof res.data === "object" && "ok" in res.data && res.data.ok === false) {
        setFeedback({ tone: "error", text: "The host could not do it: see the VM's history for why." });
        router.refresh();
        return;
      }
      setFeedback({ tone: "success", text: success });
      after?.();
      router.refresh();
    });
  return { pending, feedback, submit };
}

function FeedbackLine({ feedback }: { feedback: Feedback }) {
  if (!feedback) return null;
  return <Notice tone={feedback.tone}>{feedback.text}</Notice>;
}

function MemoryCard({
  vm,
  live,
  action,
}: {
  vm: VmManageProps["vm"];
  live: VmLive;
  action: VmManageActions["setMemory"];
}) {
  const { pending, feedback, submit } = useSubmit();
  const [value, setValue] = useState(String(vm.memoryMiB));
  const running = live.state === "running" || live.state === "starting";
  return (
    <Card title="Memory">
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          submit(
            () => action({ name: vm.name, memoryMiB: Number(value) }),
            running ? `Saved: ${value} MiB from the next boot.` : `Saved: ${value} MiB.`,
          );
        }}
      >
        <label className="block space-y-1.5">
          <span className="block text-sm font-medium text-stone-700 dark:text-stone-300">Memory (MiB)</span>
          <input
            name="memoryMiB"
            type="number"
            inputMode="numeric"
            min={16}
            max={65536}
            step={1}
            required
            value={value}
            onChange={(e) => setValue(e.target.value)}
            className={inputClass}
          />
        </label>
        <p className="text-sm text-stone-500 dark:text-stone-400">
          Applies at the next boot{running ? ": the running VM keeps its memory until then" : ""}.
        </p>
        <Button type="submit" pending={pending} disabled={value === String(vm.memoryMiB)}>
          Save memory
        </Button>
        <FeedbackLine feedback={feedback} />
      </form>
    </Card>
  );
}

function StorageCard({
  vm,
  stopped,
  action,
}: {
  vm: VmManageProps["vm"];
  stopped: boolean;
  action: VmManageActions["growStorage"];
}) {
  const { pending, feedback, submit } = useSubmit();
  const [value, setValue] = useState(String(vm.storageGiB + 1));
  return (
    <Card title="Storage">
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          submit(
            () => action({ name: vm.name, storageGiB: Number(value) }),
            `Storage grown to ${value} GiB.`,
          );
        }}
      >
        <p className="text-sm">
          <span className="font-medium tabular-nums" data-testid="storage-now">
            {vm.storageGiB} GiB
          </span>{" "}
          <span className="text-stone-500 dark:text-stone-400">today (the /data disk)</span>
        </p>
        <label className="block space-y-1.5">
          <span className="block text-sm font-medium text-stone-700 dark:text-stone-300">New size (GiB)</span>
          <input
            name="storageGiB"
            type="number"
            inputMode="numeric"
            min={vm.storageGiB + 1}
            max={4096}
            step={1}
            required
            value={value}
            onChange={(e) => setValue(e.target.value)}
            disabled={!stopped}
            className={inputClass}
          />
        </label>
        <p className="text-sm text-stone-500 dark:text-stone-400">
          Grows only, with the VM shut down; the filesystem grows with it.
        </p>
        <Button type="submit" pending={pending} disabled={!stopped}>
          Grow storage
        </Button>
        <FeedbackLine feedback={feedback} />
      </form>
    </Card>
  );
}

function OwnerCard({
  vm,
  stopped,
  owners,
  action,
}: {
  vm: VmManageProps["vm"];
  stopped: boolean;
  owners: VmManageProps["owners"];
  action: VmManageActions["changeOwner"];
}) {
  const { pending, feedback, submit } = useSubmit();
  const others = owners.filter((o) => o.id !== vm.ownerId);
  const [ownerId, setOwnerId] = useState(others[0]?.id ?? "");
  const chosen = others.find((o) => o.id === ownerId);
  return (
    <Card title="Owner">
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          submit(
            () => action({ name: vm.name, ownerId }),
            `${vm.name} now belongs to ${chosen?.username ?? "the new owner"}.`,
          );
        }}
      >
        <label className="block space-y-1.5">
          <span className="block text-sm font-medium text-stone-700 dark:text-stone-300">New owner</span>
          <select
            name="ownerId"
            value={ownerId}
            onChange={(e) => setOwnerId(e.target.value)}
            disabled={!stopped || others.length === 0}
            className={inputClass}
          >
            {others.map((o) => (
              <option key={o.id} value={o.id}>
                {o.username} ({o.name})
              </option>
            ))}
          </select>
        </label>
        <p className="text-sm text-stone-500 dark:text-stone-400">
          With the VM shut down; its disks are copied to the new owner's host user. Console history stays
          behind.
        </p>
        <Button type="submit" variant="secondary" pending={pending} disabled={!stopped || !chosen}>
          Change owner
        </Button>
        <FeedbackLine feedback={feedback} />
      </form>
    </Card>
  );
}

function HostCard({
  vm,
  stopped,
  hosts,
  action,
}: {
  vm: VmManageProps["vm"];
  stopped: boolean;
  hosts: string[];
  action: VmManageActions["move"];
}) {
  const { pending, feedback, submit } = useSubmit();
  const others = hosts.filter((h) => h !== vm.host);
  const [host, setHost] = useState(others[0] ?? "");
  const blocked = !stopped ? "Shut the VM down first." : null;
  return (
    <Card title="Host">
      <p className="text-sm">
        On{" "}
        <span className="font-mono" data-testid="vm-host">
          {vm.host}
        </span>
      </p>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          submit(() => action({ name: vm.name, host }), `${vm.name} moved to ${host}.`);
        }}
      >
        <label className="block space-y-1.5">
          <span className="block text-sm font-medium text-stone-700 dark:text-stone-300">Move to</span>
          <select
            name="host"
            value={host}
            onChange={(e) => setHost(e.target.value)}
            disabled={blocked !== null || pending}
            className={inputClass}
          >
            {others.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
        </label>
        <p className="text-sm text-stone-500 dark:text-stone-400">
          {blocked ??
            `Cold: its image is published there, its disks${vm.snapshotCount > 0 ? ` and its ${vm.snapshotCount} snapshot${vm.snapshotCount === 1 ? "" : "s"}` : ""} copied and checked, then it switches hosts and gets an address from that host's network (port forwards stay behind).`}
        </p>
        <Button type="submit" variant="secondary" pending={pending} disabled={blocked !== null || !host}>
          Move
        </Button>
        <FeedbackLine feedback={feedback} />
      </form>
    </Card>
  );
}

function AutostartCard({ vm, action }: { vm: VmManageProps["vm"]; action: VmManageActions["setAutostart"] }) {
  const { pending, feedback, submit } = useSubmit();
  const [on, setOn] = useState(vm.autostart);
  return (
    <Card title="Start with the host">
      <label className="flex items-center gap-3 text-sm">
        <input
          type="checkbox"
          name="autostart"
          checked={on}
          disabled={pending}
          onChange={(e) => {
            const next = e.target.checked;
            setOn(next);
            submit(
              () => action({ name: vm.name, autostart: next }),
              next ? "Autostart is on." : "Autostart is off.",
              undefined,
              () => setOn(!next),
            );
          }}
          className="size-5 accent-teal-700"
        />
        <span>Autostart: start this VM when the host starts</span>
      </label>
      <FeedbackLine feedback={feedback} />
    </Card>
  );
}

/**
 * What the destroy card offers: `destroy` (stopped), `wait` (shut it down first), `finish` (a
 * destroy began and did not finish: the agent stopped half-way or a step failed; issue 11 point
 * 1), `finishing` (a destroy runs now).
 */
export function destroyOffer(
  live: Pick<VmLive, "state" | "busy">,
): "destroy" | "wait" | "finish" | "finishing" {
  if (live.state === "destroying") return live.busy === "vm.destroy" ? "finishing" : "finish";
  return live.state === "stopped" || live.state === "crashed" ? "destroy" : "wait";
}

type DestroyProps = { vm: VmManageProps["vm"]; action: VmManageActions["destroy"] };

/** Both destroy cards: the destroy action, then the VM list. */
function useDestroy({ vm, action }: DestroyProps) {
  const { pending, feedback, submit } = useSubmit();
  const router = useRouter();
  const destroy = (confirm: string, keepSnapshots: boolean) =>
    submit(
      () => action({ name: vm.name, confirm, keepSnapshots }),
      `${vm.name} was destroyed.`,
      () => router.push("/admin/vms"),
    );
  return { pending, feedback, destroy };
}

/** A half-done destroy: the same destroy action (the agent finishes what is left), one click. */
function FinishDestroyCard({ running, ...props }: DestroyProps & { running: boolean }) {
  const { vm } = props;
  const { pending, feedback, destroy } = useDestroy(props);
  return (
    <Card title="Destroy incomplete" danger>
      <div data-testid="destroy-incomplete" className="space-y-3">
        <p className="text-sm text-stone-600 dark:text-stone-400">
          {running
            ? `${vm.name} is being destroyed now.`
            : `A destroy of ${vm.name} began and did not finish (the host agent stopped or a step failed). Part of its files may be gone already; it cannot be started. Finishing removes what is left; its snapshots are kept on the host if the first destroy asked for that.`}
        </p>
        <Button
          type="button"
          variant="danger"
          pending={pending}
          disabled={running}
          onClick={() => destroy(vm.name, false)}
        >
          Finish destroy
        </Button>
        <FeedbackLine feedback={feedback} />
      </div>
    </Card>
  );
}

function DestroyCard({ stopped, ...props }: DestroyProps & { stopped: boolean }) {
  const { vm } = props;
  const { pending, feedback, destroy } = useDestroy(props);
  const [confirm, setConfirm] = useState("");
  const [keepSnapshots, setKeepSnapshots] = useState(false);
  const snapshots = vm.snapshotCount === 1 ? "1 snapshot" : `${vm.snapshotCount} snapshots`;
  return (
    <Card title="Destroy" danger>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          destroy(confirm, keepSnapshots);
        }}
      >
        <p className="text-sm text-stone-600 dark:text-stone-400">
          Deletes the VM's disks for good.{" "}
          {vm.snapshotCount === 0 ? "It has no snapshot." : `It has ${snapshots}.`}
        </p>
        {vm.snapshotCount === 0 ? null : (
          <fieldset className="space-y-2 text-sm">
            <legend className="font-medium text-stone-700 dark:text-stone-300">Its snapshots</legend>
            <label className="flex items-start gap-2">
              <input
                type="radio"
                name="snapshots"
                checked={!keepSnapshots}
                onChange={() => setKeepSnapshots(false)}
                className="mt-0.5 size-4 accent-red-700"
              />
              <span>Delete them too</span>
            </label>
            <label className="flex items-start gap-2">
              <input
                type="radio"
                name="snapshots"
                checked={keepSnapshots}
                onChange={() => setKeepSnapshots(true)}
                className="mt-0.5 size-4 accent-teal-700"
              />
              <span>Keep them on the host (in the agent's kept-snapshots directory, for the host admin)</span>
            </label>
          </fieldset>
        )}
        <label className="block space-y-1.5">
          <span className="block text-sm font-medium text-stone-700 dark:text-stone-300">
            Type <span className="font-mono">{vm.name}</span> to confirm
          </span>
          <input
            name="confirm"
            autoComplete="off"
            spellCheck={false}
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            disabled={!stopped}
            className={inputClass}
          />
        </label>
        <Button type="submit" variant="danger" pending={pending} disabled={!stopped || confirm !== vm.name}>
          Destroy {vm.name}
        </Button>
        {stopped ? null : (
          <p className="text-sm text-stone-500 dark:text-stone-400">Shut the VM down first.</p>
        )}
        <FeedbackLine feedback={feedback} />
      </form>
    </Card>
  );
}
