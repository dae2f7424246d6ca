import Link from "next/link";
import { can } from "@/server/web/auth/permissions";
import type { Caller } from "@/server/web/dal/caller";
import { HeaderMenu } from "./header-menu";
import { NavLink } from "./nav-link";
import { type SignOut, SignOutButton } from "./sign-out-button";

/** Up to this many links sit in the header at every width; more go into a "Menu" below 1024 px. */
const INLINE_MAX = 2;

export function SiteHeader({ caller, signOut }: { caller: Caller; signOut: SignOut }) {
  const active = caller.status === "active";
  const links = [
    { href: "/", label: "Dashboard", show: active },
    { href: "/admin/accounts", label: "Accounts", show: active && can(caller.role, "accounts.read") },
    { href: "/admin/vms", label: "VMs", show: active && can(caller.role, "vm.provision") },
    { href: "/admin/snapshots", label: "Snapshots", show: active && can(caller.role, "snapshots.approve") },
    { href: "/admin/host", label: "Host", show: active && can(caller.role, "host.read") },
    { href: "/admin/network", label: "Network", show: active && can(caller.role, "network.admin") },
    { href: "/admin/audit", label: "Audit log", show: active && can(caller.role, "audit.read") },
  ].filter((l) => l.show);
  const fits = links.length <= INLINE_MAX;
  return (
    <header className="border-b border-stone-200 bg-white/80 backdrop-blur dark:border-stone-800 dark:bg-stone-900/80">
      <div className="mx-auto flex max-w-5xl items-center gap-2 px-4 py-2.5 sm:gap-4">
        <Link href="/" className="flex shrink-0 items-center gap-2 font-semibold tracking-tight">
          <span
            aria-hidden
            className="grid size-7 place-items-center rounded-md bg-teal-700 text-xs font-bold text-white dark:bg-teal-500 dark:text-stone-950"
          >
            z
          </span>
          zaphod
        </Link>
        {links.length ? (
          <nav aria-label="Main" className={fits ? "flex gap-1" : "hidden gap-1 lg:flex"}>
            {links.map((l) => (
              <NavLink key={l.href} href={l.href}>
                {l.label}
              </NavLink>
            ))}
          </nav>
        ) : null}
        <div className="ml-auto flex min-w-0 items-center gap-1">
          {fits ? null : (
            <HeaderMenu className="lg:hidden" summary="Menu" panelClassName="w-56">
              <nav aria-label="Main" className="flex flex-col gap-0.5">
                {links.map((l) => (
                  <NavLink key={l.href} href={l.href} block>
                    {l.label}
                  </NavLink>
                ))}
              </nav>
            </HeaderMenu>
          )}
          <HeaderMenu
            className="min-w-0"
            testId="signed-in-user"
            panelClassName="w-64"
            summary={
              <>
                <span className="sr-only">Account menu, signed in as </span>
                <span
                  aria-hidden
                  className="grid size-7 shrink-0 place-items-center rounded-full bg-stone-200 text-xs font-semibold uppercase text-stone-700 dark:bg-stone-700 dark:text-stone-100"
                >
                  {caller.username.slice(0, 1)}
                </span>
                <span className="max-w-[12rem] truncate font-medium max-sm:sr-only">{caller.username}</span>
                {caller.role === "admin" ? (
                  <span className="hidden rounded-full bg-stone-100 px-2 py-0.5 text-xs text-stone-600 sm:inline dark:bg-stone-800 dark:text-stone-300">
                    admin
                  </span>
                ) : null}
              </>
            }
          >
            <div className="border-b border-stone-200 px-2 pt-1 pb-2 text-sm dark:border-stone-800">
              <p className="truncate font-medium">{caller.name}</p>
              <p className="truncate text-stone-500 dark:text-stone-400">{caller.email}</p>
              {caller.role === "admin" ? <p className="mt-1 text-xs text-stone-500">Admin</p> : null}
            </div>
            <div className="flex flex-col gap-0.5 pt-2">
              {active ? (
                <NavLink href="/account" block>
                  Your account
                </NavLink>
              ) : null}
              <SignOutButton signOut={signOut} className="w-full justify-start! px-3!" />
            </div>
          </HeaderMenu>
        </div>
      </div>
    </header>
  );
}
