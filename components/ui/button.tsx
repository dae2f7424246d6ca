type ButtonProps = React.ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "secondary" | "danger" | "quiet";
  pending?: boolean;
};

const VARIANTS = {
  primary:
    "bg-teal-700 text-white hover:bg-teal-800 focus-visible:ring-teal-600/40 dark:bg-teal-500 dark:text-stone-950 dark:hover:bg-teal-400",
  secondary:
    "border border-stone-300 bg-white text-stone-800 hover:bg-stone-100 focus-visible:ring-stone-400/40 dark:border-stone-700 dark:bg-stone-900 dark:text-stone-100 dark:hover:bg-stone-800",
  danger:
    "border border-red-300 bg-white text-red-700 hover:bg-red-50 focus-visible:ring-red-500/30 dark:border-red-800 dark:bg-stone-900 dark:text-red-400 dark:hover:bg-red-950",
  quiet:
    "text-stone-600 hover:bg-stone-100 hover:text-stone-900 focus-visible:ring-stone-400/40 dark:text-stone-300 dark:hover:bg-stone-800 dark:hover:text-white",
};

export function Button({
  variant = "primary",
  pending,
  className = "",
  children,
  disabled,
  ...rest
}: ButtonProps) {
  return (
    <button
      {...rest}
      disabled={disabled || pending}
      aria-busy={pending || undefined}
      className={`inline-flex min-h-10 items-center justify-center gap-2 rounded-lg px-4 py-2 text-sm font-medium outline-none transition focus-visible:ring-4 disabled:cursor-not-allowed disabled:opacity-60 ${VARIANTS[variant]} ${className}`}
    >
      {children}
    </button>
  );
}
