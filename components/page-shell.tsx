import type { Caller } from "@/server/web/dal/caller";
import type { SignOut } from "./sign-out-button";
import { SiteHeader } from "./site-header";

export function PageShell({
  caller,
  signOut,
  title,
  description,
  children,
}: {
  caller: Caller;
  /** The wrapped sign-out action, from the page (the header's account menu). */
  signOut: SignOut;
  title: string;
  description?: string;
  children: React.ReactNode;
}) {
  return (
    <>
      <SiteHeader caller={caller} signOut={signOut} />
      <main className="mx-auto max-w-5xl px-4 py-8">
        <h1 className="text-2xl font-semibold tracking-tight">{title}</h1>
        {description ? (
          <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{description}</p>
        ) : null}
        <div className="mt-6">{children}</div>
      </main>
    </>
  );
}
