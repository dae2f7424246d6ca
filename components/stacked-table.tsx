/**
 * Wide tables that become stacked rows below 768 px instead of scrolling sideways: each row is a
 * card and each cell shows its column's name (data-label) before its value. The markup stays a
 * <table> (rows and cells keep their roles for assistive technology and tests).
 */
export const stackedTable = {
  wrapper:
    "rounded-xl border border-stone-200 bg-white md:overflow-x-auto dark:border-stone-800 dark:bg-stone-900",
  table: "w-full text-left text-sm max-md:block",
  /** Column names are read from data-label on narrow screens; the header row stays for screen readers. */
  thead: "max-md:sr-only",
  tbody: "max-md:block",
  tr: "max-md:block max-md:px-4 max-md:py-3",
};

export function Cell({
  label,
  className = "",
  children,
}: {
  /** The column's name, shown before the value when the row is stacked. */
  label: string;
  className?: string;
  children: React.ReactNode;
}) {
  return (
    <td
      data-label={label}
      className={`px-4 py-2 max-md:flex max-md:gap-3 max-md:px-0 max-md:py-0.5 max-md:text-left max-md:before:w-24 max-md:before:shrink-0 max-md:before:pt-0.5 max-md:before:text-xs max-md:before:text-stone-500 max-md:before:content-[attr(data-label)] dark:max-md:before:text-stone-400 ${className}`}
    >
      <div className="min-w-0 max-md:break-words">{children}</div>
    </td>
  );
}
