import type { Metadata } from "next";
import { changePasswordAction, signOutAction } from "@/app/actions/auth";
import { addSshKeyAction, removeSshKeyAction } from "@/app/actions/guest-access";
import { SshKeys } from "@/components/account/ssh-keys";
import { ChangePasswordForm } from "@/components/auth/change-password-form";
import { PageShell } from "@/components/page-shell";
import { requireUser } from "@/server/web/dal/get-session";
import { listOwnSshKeys } from "@/server/web/vms/guest-access";

export const metadata: Metadata = { title: "Your account" };

export default async function AccountPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const caller = await requireUser();
  const { changed } = await searchParams;
  const keys = await listOwnSshKeys(caller);
  const rows: [string, string][] = [
    ["Username", caller.username],
    ["Name", caller.name],
    ["Email", caller.email],
    ["Role", caller.role === "admin" ? "Admin" : "Member"],
  ];
  return (
    <PageShell
      caller={caller}
      signOut={signOutAction}
      title="Your account"
      description="Who you are here, your password and your SSH keys."
    >
      <section aria-labelledby="profile-heading">
        <h2 id="profile-heading" className="text-lg font-medium">
          Profile
        </h2>
        <dl className="mt-3 grid max-w-md grid-cols-[max-content_1fr] gap-x-6 gap-y-2 rounded-xl border border-stone-200 bg-white p-4 text-sm dark:border-stone-800 dark:bg-stone-900">
          {rows.map(([k, v]) => (
            <div key={k} className="contents">
              <dt className="text-stone-500 dark:text-stone-400">{k}</dt>
              <dd className="min-w-0 break-words font-medium">{v}</dd>
            </div>
          ))}
        </dl>
        <p className="mt-2 text-sm text-stone-500 dark:text-stone-400">
          To change your name or email, ask an admin.
        </p>
      </section>
      <section aria-labelledby="ssh-keys-heading" className="mt-10">
        <h2 id="ssh-keys-heading" className="text-lg font-medium">
          SSH keys
        </h2>
        <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
          Root in each of your VMs accepts these keys over SSH from the VM's next boot; passwords are never
          accepted over the network.
        </p>
        <div className="mt-4">
          <SshKeys
            keys={keys.map((k) => ({ ...k, createdAt: k.createdAt.toISOString() }))}
            add={addSshKeyAction}
            remove={removeSshKeyAction}
          />
        </div>
      </section>
      <section aria-labelledby="password-heading" className="mt-10">
        <h2 id="password-heading" className="text-lg font-medium">
          Change password
        </h2>
        <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
          You stay signed in here; every other browser or device signed in as you is signed out.
        </p>
        <div className="mt-4">
          <ChangePasswordForm action={changePasswordAction} changed={changed === "1"} />
        </div>
      </section>
    </PageShell>
  );
}
