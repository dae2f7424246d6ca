/**
 * Domain values stored as plain strings (one schema serves SQLite and PostgreSQL) and checked here.
 */
import { z } from "zod";

export const Role = z.enum(["admin", "member"]);
export type Role = z.infer<typeof Role>;

export const UserStatus = z.enum(["pending", "active", "suspended", "rejected"]);
export type UserStatus = z.infer<typeof UserStatus>;

export const TaskStatus = z.enum(["queued", "running", "succeeded", "failed", "interrupted"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const SnapshotStatus = z.enum([
  "requested",
  "approved",
  "rejected",
  "running",
  "ready",
  "failed",
  "restoring",
]);
export type SnapshotStatus = z.infer<typeof SnapshotStatus>;

export const AuditResult = z.enum(["success", "failure", "denied"]);
export type AuditResult = z.infer<typeof AuditResult>;

/** Strict slug for usernames and VM names (also a host user suffix and a UML umid). */
export const Slug = z
  .string()
  .trim()
  .regex(
    /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/,
    "3–32 characters: lowercase letters, digits and dashes; start with a letter",
  );

export const Username = Slug;

export const Email = z
  .string()
  .trim()
  .transform((s) => s.normalize("NFKC").toLowerCase())
  .pipe(
    z
      .string()
      .max(254, "Too long")
      // One plain address: no lists, no display names, no quoted parts.
      .regex(/^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/, "Enter an email address like name@example.org"),
  );

/**
 * Characters that make text lie about itself on someone else's screen: control characters (C0, DEL,
 * C1), format characters (bidi overrides and isolates, zero-width spaces and joiners, the BOM, soft
 * hyphens, tag characters), line/paragraph separators, private-use and lone surrogates. A line
 * break and a tab are fine in multi-line text.
 */
const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}]/u;
const UNSAFE_TEXT_MULTILINE = /(?![\n\t])[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}]/u;
export const UNSAFE_TEXT_MESSAGE =
  "No invisible or control characters (such as direction overrides or zero-width spaces)";

export function hasUnsafeText(s: string, multiline = false): boolean {
  return (multiline ? UNSAFE_TEXT_MULTILINE : UNSAFE_TEXT).test(s.replace(/\r\n/g, "\n"));
}

/**
 * For showing text stored before these rules (or from elsewhere): every unsafe character becomes a
 * visible marker such as ⟨U+202E⟩, so it cannot reorder or hide what is around it.
 */
export function visibleText(s: string, multiline = false): string {
  const re = new RegExp((multiline ? UNSAFE_TEXT_MULTILINE : UNSAFE_TEXT).source, "gu");
  return s.replace(re, (c) => `⟨U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}⟩`);
}

/** Free text another person will read (names, labels, notes, reasons): trimmed, bounded, visible. */
export function PlainText(max: number, opts: { multiline?: boolean } = {}) {
  return z
    .string()
    .trim()
    .max(max, `At most ${max} characters`)
    .refine((s) => !hasUnsafeText(s, opts.multiline), UNSAFE_TEXT_MESSAGE);
}

export const FullName = z
  .string()
  .trim()
  .min(1, "Enter your name")
  .max(100, "At most 100 characters")
  .refine((s) => !hasUnsafeText(s), UNSAFE_TEXT_MESSAGE);

export const Password = z.string().min(10, "At least 10 characters").max(256, "At most 256 characters");

export const AuditActions = [
  "account.request",
  "account.approve",
  "account.reject",
  "account.suspend",
  "account.reactivate",
  "account.create",
  "account.password_change",
  "account.reset_link",
  "account.password_reset",
  "signin.success",
  "signin.failure",
  "signin.refused",
  "signout",
  "console.open",
  "vm.provision",
  "vm.destroy",
  "vm.memory",
  "vm.storage",
  "vm.owner",
  "vm.autostart",
  "account.delete",
  "vm.start",
  "vm.reboot",
  "vm.reset",
  "vm.shutdown",
  "vm.poweroff",
  "snapshot.create",
  "snapshot.request",
  "snapshot.approve",
  "snapshot.reject",
  "snapshot.restore",
  "snapshot.delete",
  "snapshot.policy",
  "snapshot.quota",
  "vm.quota.defaults",
  "vm.quota",
  "vm.boot_once",
  "vm.resume",
  "host.disk_reserve",
  "host.boot_logs",
  "account.ssh_key_add",
  "account.ssh_key_remove",
  "vm.root_password",
  "vm.network",
  "network.settings",
  "network.forward_add",
  "network.forward_remove",
  "vm.move",
] as const;
export const AuditAction = z.enum(AuditActions);
export type AuditAction = z.infer<typeof AuditAction>;
