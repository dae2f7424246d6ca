"use client";

import { usePathname } from "next/navigation";
import { useEffect, useRef } from "react";

/**
 * A disclosure for the header (a native <details>, so it opens without JavaScript too) that closes
 * when the page changes, on Escape and on a click outside it.
 */
export function HeaderMenu({
  summary,
  summaryLabel,
  testId,
  className = "",
  panelClassName = "",
  children,
}: {
  summary: React.ReactNode;
  /** The summary's accessible name, when its visible text is not enough. */
  summaryLabel?: string;
  testId?: string;
  className?: string;
  panelClassName?: string;
  children: React.ReactNode;
}) {
  const ref = useRef<HTMLDetailsElement>(null);
  const path = usePathname();
  // biome-ignore lint/correctness/useExhaustiveDependencies: close after every navigation
  useEffect(() => {
    if (ref.current) ref.current.open = false;
  }, [path]);
  useEffect(() => {
    const close = (e: Event) => {
      const el = ref.current;
      if (!el?.open) return;
      if (e instanceof KeyboardEvent) {
        if (e.key !== "Escape") return;
        el.open = false;
        el.querySelector("summary")?.focus();
      } else if (!el.contains(e.target as Node)) el.open = false;
    };
    document.addEventListener("pointerdown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("pointerdown", close);
      document.removeEventListener("keydown", close);
    };
  }, []);
  return (
    <details ref={ref} className={`group relative ${className}`}>
      <summary
        data-testid={testId}
        aria-label={summaryLabel}
        className="flex min-h-10 cursor-pointer list-none items-center gap-2 rounded-lg px-2.5 text-sm text-stone-700 outline-none transition hover:bg-stone-100 focus-visible:ring-4 focus-visible:ring-stone-400/40 group-open:bg-stone-100 dark:text-stone-200 dark:hover:bg-stone-800 dark:group-open:bg-stone-800 [&::-webkit-details-marker]:hidden"
      >
        {summary}
        <svg
          aria-hidden
          viewBox="0 0 16 16"
          className="size-3.5 shrink-0 text-stone-500 transition group-open:rotate-180"
          fill="none"
          stroke="currentColor"
          strokeWidth="2"
        >
          <path d="m4 6 4 4 4-4" />
        </svg>
      </summary>
      <div
        className={`absolute right-0 z-30 mt-2 rounded-xl border border-stone-200 bg-white p-2 shadow-lg dark:border-stone-800 dark:bg-stone-900 ${panelClassName}`}
      >
        {children}
      </div>
    </details>
  );
}
