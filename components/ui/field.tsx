import { useId } from "react";

type FieldProps = {
  label: string;
  name: string;
  type?: "text" | "email" | "password";
  autoComplete?: string;
  error?: string;
  hint?: string;
  required?: boolean;
  multiline?: boolean;
  defaultValue?: string;
  maxLength?: number;
};

/** A labelled input with its hint and its error right below it (linked by aria-describedby). */
export function Field({
  label,
  name,
  type = "text",
  autoComplete,
  error,
  hint,
  required,
  multiline,
  defaultValue,
  maxLength,
}: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(" ") || undefined;
  const base =
    "block w-full rounded-lg border bg-white px-3 py-2 text-base text-stone-900 shadow-xs outline-none transition placeholder:text-stone-400 focus:ring-2 dark:bg-stone-900 dark:text-stone-100 " +
    (error
      ? "border-red-400 focus:border-red-500 focus:ring-red-500/30 dark:border-red-500"
      : "border-stone-300 focus:border-teal-600 focus:ring-teal-600/25 dark:border-stone-700 dark:focus:border-teal-400");
  return (
    <div className="space-y-1.5">
      <label htmlFor={id} className="block text-sm font-medium text-stone-700 dark:text-stone-300">
        {label}
      </label>
      {multiline ? (
        <textarea
          id={id}
          name={name}
          rows={3}
          className={base}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          defaultValue={defaultValue}
          maxLength={maxLength}
        />
      ) : (
        <input
          id={id}
          name={name}
          type={type}
          autoComplete={autoComplete}
          required={required}
          className={base}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          defaultValue={defaultValue}
          maxLength={maxLength}
        />
      )}
      {hint && !error ? (
        <p id={hintId} className="text-sm text-stone-500 dark:text-stone-400">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} className="text-sm text-red-700 dark:text-red-400">
          {error}
        </p>
      ) : null}
    </div>
  );
}
