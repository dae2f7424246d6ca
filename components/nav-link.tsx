"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

export function NavLink({
  href,
  block,
  children,
}: {
  href: string;
  /** A full-width row (in a menu) rather than a tab in the header. */
  block?: boolean;
  children: React.ReactNode;
}) {
  const path = usePathname();
  const active = href === "/" ? path === "/" : path === href || path.startsWith(`${href}/`);
  return (
    <Link
      href={href}
      aria-current={active ? "page" : undefined}
      className={`whitespace-nowrap rounded-md text-sm transition ${block ? "block px-3 py-2" : "px-3 py-1.5"} ${
        active
          ? "bg-stone-100 font-medium text-stone-900 dark:bg-stone-800 dark:text-white"
          : "text-stone-600 hover:bg-stone-100 hover:text-stone-900 dark:text-stone-400 dark:hover:bg-stone-800 dark:hover:text-white"
      }`}
    >
      {children}
    </Link>
  );
}
