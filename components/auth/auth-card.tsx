import Link from "next/link";

/** The centered card used by the sign-in, sign-up and waiting pages. */
export function AuthCard({
  title,
  subtitle,
  children,
}: {
  title: string;
  subtitle?: string;
  children: React.ReactNode;
}) {
  return (
    <main className="flex min-h-dvh flex-col items-center justify-center px-4 py-10">
      <Link
        href="/"
        className="mb-6 flex items-center gap-2 text-lg font-semibold tracking-tight text-stone-800 dark:text-stone-100"
      >
        <span
          aria-hidden
          className="grid size-8 place-items-center rounded-lg bg-teal-700 text-sm font-bold text-white dark:bg-teal-500 dark:text-stone-950"
        >
          z
        </span>
        zaphod
      </Link>
      <div className="w-full max-w-sm rounded-2xl border border-stone-200 bg-white p-6 shadow-sm sm:p-8 dark:border-stone-800 dark:bg-stone-900">
        <h1 className="text-xl font-semibold tracking-tight">{title}</h1>
        {subtitle ? <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{subtitle}</p> : null}
        <div className="mt-6">{children}</div>
      </div>
    </main>
  );
}
