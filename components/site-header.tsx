import Link from "next/link";
import { can } from "@/server/web/auth/permissions";
import type { Caller } from "@/server/web/dal/caller";
import { NavLink } from "./nav-link";
import { SignOutButton } from "./sign-out-button";

export function SiteHeader({ caller }: { caller: Caller }) {
  const links = [
    { href: "/", label: "Dashboard", show: caller.status === "active" },
    {
      href: "/admin/accounts",
      label: "Accounts",
      show: caller.status === "active" && can(caller.role, "accounts.read"),
    },
    {
      href: "/admin/vms",
      label: "VMs",
      show: caller.status === "active" && can(caller.role, "vm.provision"),
    },
    {
      href: "/admin/snapshots",
      label: "Snapshots",
      show: caller.status === "active" && can(caller.role, "vm.provision"),
    },
    {
      href: "/admin/host",
      label: "Host",
      show: caller.status === "active" && can(caller.role, "host.read"),
    },
    {
      href: "/admin/audit",
      label: "Audit log",
      show: caller.status === "active" && can(caller.role, "audit.read"),
    },
  ].filter((l) => l.show);
  return (
    <header className="border-b border-stone-200 bg-white/80 backdrop-blur dark:border-stone-800 dark:bg-stone-900/80">
      <div className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
        <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
          <span
            aria-hidden
            className="grid size-7 place-items-center rounded-md bg-teal-700 text-xs font-bold text-white dark:bg-teal-500 dark:text-stone-950"
          >
            z
          </span>
          zaphod
        </Link>
        <nav aria-label="Main" className="order-3 flex w-full gap-1 overflow-x-auto sm:order-none sm:w-auto">
          {links.map((l) => (
            <NavLink key={l.href} href={l.href}>
              {l.label}
            </NavLink>
          ))}
        </nav>
        <div className="ml-auto flex items-center gap-2">
          <span className="truncate text-sm text-stone-600 dark:text-stone-400" data-testid="signed-in-user">
            <span className="sr-only">Signed in as </span>
            <span className="font-medium text-stone-800 dark:text-stone-200">{caller.username}</span>
            {caller.role === "admin" ? (
              <span className="ml-2 rounded-full bg-stone-100 px-2 py-0.5 text-xs text-stone-600 dark:bg-stone-800 dark:text-stone-300">
                admin
              </span>
            ) : null}
          </span>
          <SignOutButton />
        </div>
      </div>
    </header>
  );
}
