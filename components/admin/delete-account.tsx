"use client";

import { useRouter } from "next/navigation";
import { useId, useRef, useState, useTransition } from "react";
import { Button } from "@/components/ui/button";
import { Notice } from "@/components/ui/notice";
import type { ActionResult } from "@/server/web/auth/wrappers";

export type DeleteAccountAction = (input: {
  userId: string;
  confirm: string;
  vms: "delete" | "transfer";
  transferToId?: string;
}) => Promise<ActionResult<{ deleted: string }>>;

const inputClass =
  "block w-full rounded-lg border border-stone-300 bg-white px-3 py-2 text-base text-stone-900 outline-none focus:border-teal-600 focus:ring-2 focus:ring-teal-600/25 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100";

/**
 * Delete a rejected or departed (suspended) member: a dialog that says what happens to the
 * account's VMs (deleted with their snapshots, or handed to another account) and asks for the
 * username typed out.
 */
export function DeleteAccount({
  userId,
  username,
  vms,
  owners,
  action,
}: {
  userId: string;
  username: string;
  vms: string[];
  owners: { id: string; username: string }[];
  action: DeleteAccountAction;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState("");
  const targets = owners.filter((o) => o.id !== userId);
  const [choice, setChoice] = useState<"delete" | "transfer">("delete");
  const [transferToId, setTransferToId] = useState(targets[0]?.id ?? "");
  const list = vms.join(", ");
  return (
    <>
      <Button variant="danger" aria-label={`Delete ${username}`} onClick={() => dialog.current?.showModal()}>
        Delete…
      </Button>
      <dialog
        ref={dialog}
        aria-labelledby={titleId}
        className="m-auto w-[min(32rem,calc(100vw-2rem))] rounded-xl border border-stone-200 bg-white p-0 text-stone-900 shadow-xl backdrop:bg-stone-950/50 dark:border-stone-800 dark:bg-stone-900 dark:text-stone-100"
      >
        <form
          className="space-y-4 p-5"
          onSubmit={(e) => {
            e.preventDefault();
            startTransition(async () => {
              const res = await action({
                userId,
                confirm,
                vms: choice,
                transferToId: choice === "transfer" ? transferToId : undefined,
              });
              if (!res.ok) {
                setError(Object.values(res.error.fieldErrors ?? {})[0] ?? res.error.message);
                return;
              }
              setError(null);
              dialog.current?.close();
              router.refresh();
            });
          }}
        >
          <h2 id={titleId} className="text-lg font-semibold">
            Delete {username}
          </h2>
          <p className="text-sm text-stone-600 dark:text-stone-400">
            The account and its host user are removed, with its task history; the audit log keeps what
            happened. The username becomes free.
          </p>
          {vms.length === 0 ? (
            <p className="text-sm">This account owns no VM.</p>
          ) : (
            <fieldset className="space-y-2 text-sm">
              <legend className="font-medium">
                Its {vms.length === 1 ? "VM" : "VMs"} ({list}) must be shut down. Then:
              </legend>
              <label className="flex items-start gap-2">
                <input
                  type="radio"
                  name="vms"
                  checked={choice === "delete"}
                  onChange={() => setChoice("delete")}
                  className="mt-0.5 size-4 accent-red-700"
                />
                <span>Delete {vms.length === 1 ? "it" : "them"} with every snapshot</span>
              </label>
              <label className="flex items-start gap-2">
                <input
                  type="radio"
                  name="vms"
                  checked={choice === "transfer"}
                  disabled={targets.length === 0}
                  onChange={() => setChoice("transfer")}
                  className="mt-0.5 size-4 accent-teal-700"
                />
                <span>Keep {vms.length === 1 ? "it" : "them"}: give to another account</span>
              </label>
              {choice === "transfer" ? (
                <select
                  aria-label="Give the VMs to"
                  value={transferToId}
                  onChange={(e) => setTransferToId(e.target.value)}
                  className={inputClass}
                >
                  {targets.map((o) => (
                    <option key={o.id} value={o.id}>
                      {o.username}
                    </option>
                  ))}
                </select>
              ) : null}
            </fieldset>
          )}
          <label className="block space-y-1.5 text-sm">
            <span className="block font-medium">
              Type <span className="font-mono">{username}</span> to confirm
            </span>
            <input
              name="confirm"
              autoComplete="off"
              spellCheck={false}
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
              className={inputClass}
            />
          </label>
          {error ? <Notice>{error}</Notice> : null}
          <div className="flex flex-wrap justify-end gap-2">
            <Button type="button" variant="secondary" onClick={() => dialog.current?.close()}>
              Cancel
            </Button>
            <Button type="submit" variant="danger" pending={pending} disabled={confirm !== username}>
              Delete account
            </Button>
          </div>
        </form>
      </dialog>
    </>
  );
}
