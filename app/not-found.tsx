import Link from "next/link";

export default function NotFound() {
  return (
    <main className="flex min-h-dvh flex-col items-center justify-center gap-3 px-4 text-center">
      <h1 className="text-xl font-semibold">Page not found</h1>
      <p className="text-sm text-stone-600 dark:text-stone-400">
        There is nothing here, or you are not allowed to see it.
      </p>
      <Link
        href="/"
        className="text-sm font-medium text-teal-700 underline-offset-4 hover:underline dark:text-teal-400"
      >
        Back to the dashboard
      </Link>
    </main>
  );
}
