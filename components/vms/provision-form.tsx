"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useId, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Notice } from "@/components/ui/notice";
import type { ActionResult } from "@/server/web/auth/wrappers";
import { type Overcommit, overcommitWarnings } from "@/server/web/vms/overcommit";

type Owner = { id: string; username: string; name: string; vmCount: number };
type Image = { name: string; sizeBytes: number };

const inputBase =
  "block w-full rounded-lg border bg-white px-3 py-2 text-base text-stone-900 shadow-xs outline-none transition focus:ring-2 dark:bg-stone-900 dark:text-stone-100";
const input = `${inputBase} border-stone-300 focus:border-teal-600 focus:ring-teal-600/25 dark:border-stone-700 dark:focus:border-teal-400`;
const invalidInput = `${inputBase} border-red-400 focus:border-red-500 focus:ring-red-500/30 dark:border-red-500`;

function Labelled({
  label,
  error,
  hint,
  children,
  id,
}: {
  label: string;
  error?: string;
  hint?: string;
  children: React.ReactNode;
  id: string;
}) {
  return (
    <div className="space-y-1.5">
      <label htmlFor={id} className="block text-sm font-medium text-stone-700 dark:text-stone-300">
        {label}
      </label>
      {children}
      {error ? (
        <p className="text-sm text-red-700 dark:text-red-400">{error}</p>
      ) : hint ? (
        <p className="text-sm text-stone-500 dark:text-stone-400">{hint}</p>
      ) : null}
    </div>
  );
}

/** Provision a VM; warns (and asks to confirm) before the host would be overcommitted. */
export function ProvisionForm({
  owners,
  images,
  overcommit,
  defaultOwnerId,
  provision,
  hosts = [],
}: {
  /** Joined hosts besides the panel's own (issue 13): the admin picks one, or the most headroom. */
  hosts?: string[];
  /** The wrapped provisioning action, passed down by the page. */
  provision: (form: FormData) => Promise<ActionResult<{ name: string }>>;
  owners: Owner[];
  images: Image[];
  overcommit: Overcommit | null;
  defaultOwnerId?: string;
}) {
  const id = useId();
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const initialOwner = owners.find((o) => o.id === defaultOwnerId) ?? owners[0];
  const [ownerId, setOwnerId] = useState(initialOwner?.id ?? "");
  const [name, setName] = useState(initialOwner && initialOwner.vmCount === 0 ? initialOwner.username : "");
  const [image, setImage] = useState(images[0]?.name ?? "");
  const [memoryMiB, setMemory] = useState("256");
  const [storageGiB, setStorage] = useState("8");
  const [swapMiB, setSwap] = useState("256");
  const [autostart, setAutostart] = useState(false);
  const [startNow, setStartNow] = useState(true);
  const [anyway, setAnyway] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const imageBytes = images.find((i) => i.name === image)?.sizeBytes ?? 0;
  const warnings = overcommit
    ? overcommitWarnings(overcommit, {
        memoryMiB: Number(memoryMiB) || 0,
        storageGiB: Number(storageGiB) || 0,
        swapMiB: Number(swapMiB) || 0,
        imageBytes,
      })
    : { memory: null, disk: null };
  const overcommitted = Boolean(warnings.memory || warnings.disk);

  // A submit handler rather than `<form action>`: React resets a form after its action runs, which
  // put the Owner select back on the first account (a retry could provision for the wrong member)
  // and ticked "Start it now" again. Every field here is controlled and survives a refusal.
  function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setDone(null);
    if (overcommitted && !anyway) {
      setMessage("The host would be overcommitted: confirm below to provision anyway.");
      return;
    }
    startTransition(async () => {
      const res = await provision(form);
      if (!res.ok) {
        setErrors(res.error.fieldErrors ?? {});
        setMessage(res.error.message);
        return;
      }
      setErrors({});
      setMessage(null);
      setAnyway(false);
      setName("");
      setDone(res.data.name);
      router.refresh();
    });
  }

  if (owners.length === 0) {
    return <Notice tone="info">No active account to provision a VM for yet.</Notice>;
  }
  return (
    <form
      noValidate
      onSubmit={submit}
      className="space-y-4 rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900"
    >
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
        <Labelled id={`${id}-owner`} label="Owner" error={errors.ownerId}>
          <select
            id={`${id}-owner`}
            name="ownerId"
            className={errors.ownerId ? invalidInput : input}
            aria-invalid={errors.ownerId ? true : undefined}
            value={ownerId}
            onChange={(e) => {
              setOwnerId(e.target.value);
              const o = owners.find((x) => x.id === e.target.value);
              if (o && o.vmCount === 0 && !name) setName(o.username);
            }}
          >
            {owners.map((o) => (
              <option key={o.id} value={o.id}>
                {o.username} — {o.name}
                {o.vmCount ? ` (${o.vmCount} VM${o.vmCount > 1 ? "s" : ""})` : ""}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled
          id={`${id}-name`}
          label="VM name"
          error={errors.name}
          hint="Lowercase letters, digits, dashes."
        >
          <input
            id={`${id}-name`}
            name="name"
            className={errors.name ? invalidInput : input}
            aria-invalid={errors.name ? true : undefined}
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
          />
        </Labelled>
        <Labelled id={`${id}-image`} label="Image" error={errors.image}>
          <select
            id={`${id}-image`}
            name="image"
            className={errors.image ? invalidInput : input}
            aria-invalid={errors.image ? true : undefined}
            value={image}
            onChange={(e) => setImage(e.target.value)}
          >
            {images.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name}
              </option>
            ))}
          </select>
        </Labelled>
        {hosts.length > 0 ? (
          <Labelled id={`${id}-host`} label="Host" error={errors.host}>
            <select
              id={`${id}-host`}
              name="host"
              className={errors.host ? invalidInput : input}
              aria-invalid={errors.host ? true : undefined}
              defaultValue="auto"
            >
              <option value="auto">The most headroom (RAM + swap)</option>
              <option value="local">local (this host)</option>
              {hosts.map((h) => (
                <option key={h} value={h}>
                  {h}
                </option>
              ))}
            </select>
          </Labelled>
        ) : null}
        <Labelled id={`${id}-memory`} label="Memory (MiB)" error={errors.memoryMiB}>
          <input
            id={`${id}-memory`}
            name="memoryMiB"
            type="number"
            min={16}
            max={65536}
            className={errors.memoryMiB ? invalidInput : input}
            aria-invalid={errors.memoryMiB ? true : undefined}
            value={memoryMiB}
            onChange={(e) => setMemory(e.target.value)}
            required
          />
        </Labelled>
        <Labelled
          id={`${id}-storage`}
          label="Storage (GiB)"
          error={errors.storageGiB}
          hint="Sparse: grows as the VM writes."
        >
          <input
            id={`${id}-storage`}
            name="storageGiB"
            type="number"
            min={1}
            max={4096}
            className={errors.storageGiB ? invalidInput : input}
            aria-invalid={errors.storageGiB ? true : undefined}
            value={storageGiB}
            onChange={(e) => setStorage(e.target.value)}
            required
          />
        </Labelled>
        <Labelled id={`${id}-swap`} label="Swap (MiB)" error={errors.swapMiB}>
          <input
            id={`${id}-swap`}
            name="swapMiB"
            type="number"
            min={0}
            max={65536}
            className={errors.swapMiB ? invalidInput : input}
            aria-invalid={errors.swapMiB ? true : undefined}
            value={swapMiB}
            onChange={(e) => setSwap(e.target.value)}
            required
          />
        </Labelled>
      </div>
      <div className="flex flex-wrap gap-x-6 gap-y-2 text-sm">
        <label className="inline-flex items-center gap-2">
          <input
            type="checkbox"
            name="autostart"
            checked={autostart}
            onChange={(e) => setAutostart(e.target.checked)}
            className="size-4 accent-teal-700"
          />{" "}
          Autostart with the host
        </label>
        <label className="inline-flex items-center gap-2">
          <input
            type="checkbox"
            name="startNow"
            checked={startNow}
            onChange={(e) => setStartNow(e.target.checked)}
            className="size-4 accent-teal-700"
          />{" "}
          Start it now
        </label>
      </div>
      {overcommitted || errors.confirmOvercommit ? (
        <div
          role="alert"
          data-testid="overcommit-warning"
          className="space-y-2 rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100"
        >
          {warnings.memory ? <p>{warnings.memory}</p> : null}
          {warnings.disk ? <p>{warnings.disk}</p> : null}
          {errors.confirmOvercommit && !overcommitted ? <p>{errors.confirmOvercommit}</p> : null}
          <label className="inline-flex items-center gap-2 font-medium">
            <input
              type="checkbox"
              name="confirmOvercommit"
              checked={anyway}
              onChange={(e) => setAnyway(e.target.checked)}
              className="size-4 accent-amber-700"
            />
            Provision anyway
          </label>
        </div>
      ) : null}
      {!overcommit ? (
        <Notice tone="info">Host figures are unavailable (agent unreachable): no overcommit check.</Notice>
      ) : null}
      {message ? (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          {message}
        </p>
      ) : null}
      {done ? (
        <Notice tone="success">
          Provisioning <span className="font-mono">{done}</span>: follow it on{" "}
          <Link href={`/vms/${done}`} className="font-medium underline underline-offset-4">
            its page
          </Link>
          .
        </Notice>
      ) : null}
      <Button type="submit" pending={pending}>
        Provision VM
      </Button>
    </form>
  );
}
