/**
 * Words for people: what the VM page, the dashboard and the history say about tasks, audit
 * entries, the host's lock and memory. Pure (no React, no server), so one set of words serves
 * every page and the unit tests pin them. Names match the buttons ("Shut down", "Force off").
 */

/** Task kinds (server/web/dal/tasks.ts, snapshots) as the buttons name them. */
const TASK_TITLE: Record<string, string> = {
  provision: "Provision",
  destroy: "Destroy",
  start: "Start",
  reboot: "Reboot",
  reset: "Hard reset",
  shutdown: "Shut down",
  poweroff: "Force off",
  snapshot: "Snapshot",
  restore: "Restore a snapshot",
  "grow-storage": "Grow storage",
  "change-owner": "Change owner",
  move: "Move to another host",
};

/** "Reboot", "Shut down", …; an unknown kind reads as its words ("grow-storage" → "Grow storage"). */
export function taskTitle(kind: string): string {
  return TASK_TITLE[kind] ?? sentence(kind.replace(/[._-]+/g, " "));
}

export type TaskOutcomeTone = "running" | "succeeded" | "failed" | "interrupted" | "escalated";

/**
 * The chip beside a task: a reboot that needed a hard reset ended the VM up again, but not the way
 * asked, so it says so instead of "succeeded".
 */
export function taskOutcome(task: { kind: string; status: string; hardReset?: boolean }): {
  text: string;
  tone: TaskOutcomeTone;
} {
  switch (task.status) {
    case "queued":
    case "running":
      return { text: "running", tone: "running" };
    case "succeeded":
      return task.kind === "reboot" && task.hardReset
        ? { text: "ended with a hard reset", tone: "escalated" }
        : { text: "done", tone: "succeeded" };
    case "failed":
      return { text: "failed", tone: "failed" };
    default:
      return { text: "interrupted", tone: "interrupted" };
  }
}

/** Who acted, as an audit row or a task records them. */
export type ActorRef = {
  /** A username, or "cli" / "system" when no account acted. */
  label: string;
  /** False when no account acted (the host CLI, the panel's own timers). */
  isAccount: boolean;
};

/** "the host admin from the command line", "the panel itself", "you", "alice". */
export function actorText(actor: ActorRef, viewer?: string): string {
  if (!actor.isAccount) {
    if (actor.label === "system") return "the panel itself";
    return "the host admin from the command line";
  }
  return viewer && actor.label === viewer ? "you" : actor.label;
}

/** What an audit action did, in the past tense (success) and as a noun (for a failure). */
const AUDIT_WORDS: Record<string, { done: string; tried: string }> = {
  "vm.provision": { done: "Provisioned", tried: "Provisioning" },
  "vm.destroy": { done: "Destroyed", tried: "Destroying" },
  "vm.start": { done: "Started", tried: "Start" },
  "vm.reboot": { done: "Reboot requested", tried: "Reboot" },
  "vm.reset": { done: "Hard-reset", tried: "Hard reset" },
  "vm.shutdown": { done: "Shut down", tried: "Shut down" },
  "vm.poweroff": { done: "Forced off", tried: "Force off" },
  "vm.setMemory": { done: "Memory changed (from the next boot)", tried: "Memory change" },
  "vm.memory": { done: "Memory changed (from the next boot)", tried: "Memory change" },
  "vm.growStorage": { done: "Storage grown", tried: "Storage growth" },
  "vm.storage": { done: "Storage grown", tried: "Storage growth" },
  "vm.setOwner": { done: "Owner changed", tried: "Owner change" },
  "vm.owner": { done: "Owner changed", tried: "Owner change" },
  "vm.setAutostart": { done: "Autostart changed", tried: "Autostart change" },
  "vm.autostart": { done: "Autostart changed", tried: "Autostart change" },
  "console.open": { done: "Console opened", tried: "Console opening" },
  "snapshot.create": { done: "Snapshot taken", tried: "Snapshot" },
  "snapshot.request": { done: "Snapshot requested", tried: "Snapshot request" },
  "snapshot.approve": { done: "Snapshot request approved", tried: "Snapshot approval" },
  "snapshot.reject": { done: "Snapshot request declined", tried: "Snapshot refusal" },
  "snapshot.restore": { done: "Snapshot restored", tried: "Snapshot restore" },
  "snapshot.delete": { done: "Snapshot deleted", tried: "Snapshot deletion" },
  "snapshot.policy": { done: "Snapshot approval rule changed", tried: "Snapshot rule change" },
  "snapshot.quota": { done: "Snapshot limits changed", tried: "Snapshot limits change" },
  "vm.resume": { done: "Resumed after a pause for disk space", tried: "Resume" },
  "vm.boot_once": { done: "One-shot boot option set (next start only)", tried: "One-shot boot option" },
  "vm.quota": { done: "VM limits changed", tried: "VM limits change" },
  "vm.root_password": { done: "Root password set (from the next boot)", tried: "Root password change" },
  "account.ssh_key_add": { done: "SSH key added", tried: "SSH key" },
  "account.ssh_key_remove": { done: "SSH key removed", tried: "SSH key removal" },
  "vm.network": { done: "Address or rate limit changed", tried: "Network change" },
  "network.settings": { done: "Host network changed", tried: "Host network change" },
  "network.forward_add": { done: "Port forward added", tried: "Port forward" },
  "network.forward_remove": { done: "Port forward removed", tried: "Port forward removal" },
  "host.disk_reserve": { done: "Free-space reserve changed", tried: "Free-space reserve change" },
  "host.boot_logs": { done: "Console logs kept per VM changed", tried: "Console log retention change" },
  "account.request": { done: "Account requested", tried: "Account request" },
  "account.approve": { done: "Account approved", tried: "Account approval" },
  "account.reject": { done: "Account request rejected", tried: "Rejection" },
  "account.suspend": { done: "Account suspended", tried: "Suspension" },
  "account.reactivate": { done: "Account reactivated", tried: "Reactivation" },
  "account.create": { done: "Account created", tried: "Account creation" },
  "account.password_change": { done: "Password changed", tried: "Password change" },
  "account.reset_link": { done: "Password reset link issued", tried: "Reset link" },
  "account.password_reset": { done: "Password reset through a link", tried: "Password reset" },
  "account.delete": { done: "Account deleted", tried: "Account deletion" },
  "signin.success": { done: "Signed in", tried: "Sign-in" },
  "signin.failure": { done: "Sign-in failed", tried: "Sign-in" },
  "signin.refused": { done: "Sign-in refused (account not active)", tried: "Sign-in" },
  signout: { done: "Signed out", tried: "Sign-out" },
};

/** An audit action as a short phrase for the admin's log ("Account suspended"); the code stays beside it. */
export function auditActionText(action: string): string {
  return AUDIT_WORDS[action]?.done ?? sentence(action.replace(/[._-]+/g, " "));
}

/** What happened alongside (the audit row's detail, e.g. `during: "reboot"`). */
const DURING: Record<string, string> = {
  reboot: "during a reboot",
  provision: "after provisioning",
};

/**
 * One history line: "Started by the host admin from the command line", "Hard-reset during a
 * reboot by the panel itself", "Start by alice failed".
 */
export function historyText(
  entry: { action: string; result: string; actor: ActorRef; during?: string | null },
  viewer?: string,
): string {
  const words = AUDIT_WORDS[entry.action] ?? {
    done: sentence(entry.action.replace(/^vm\./, "").replace(/[._-]+/g, " ")),
    tried: sentence(entry.action.replace(/^vm\./, "").replace(/[._-]+/g, " ")),
  };
  const by = actorText(entry.actor, viewer);
  const during = entry.during && DURING[entry.during] ? ` ${DURING[entry.during]}` : "";
  if (entry.result === "success") return `${words.done}${during} by ${by}`;
  return `${words.tried}${during} by ${by} failed`;
}

/** The operation holding the VM's lock on the host (VmLive.busy), as something a person does. */
const BUSY: Record<string, string> = {
  "vm.create": "creating its disks",
  "vm.destroy": "removing it",
  "vm.start": "starting it",
  "vm.reboot": "rebooting it",
  "vm.reset": "a hard reset",
  "vm.shutdown": "shutting it down",
  "vm.poweroff": "forcing it off",
  "vm.setMemory": "changing its memory",
  "vm.growStorage": "growing its storage",
  "vm.setOwner": "changing its owner",
  "vm.setAutostart": "changing autostart",
  "snapshot.create": "taking a snapshot",
  "snapshot.restore": "restoring a snapshot",
  "snapshot.delete": "deleting a snapshot",
};

/** "Another action is running on this VM: restoring a snapshot". */
export function busyText(op: string): string {
  return `Another action is running on this VM: ${
    BUSY[op] ??
    op
      .replace(/^\w+\./, "")
      .replace(/([A-Z])/g, " $1")
      .toLowerCase()
  }`;
}

/**
 * The memory figure that explains itself. The guest's MemTotal is what the kernel left usable
 * after its own code and page tables (a UML guest given 64 MiB reports ~39), so both numbers show.
 */
export function memoryText(
  configuredMiB: number,
  live: { memTotalKiB: number | null; memAvailableKiB: number | null },
): { configured: string; guest: string | null } {
  const configured = `${configuredMiB} MiB configured`;
  if (live.memTotalKiB === null || live.memAvailableKiB === null || live.memTotalKiB <= 0)
    return { configured, guest: null };
  const used = Math.max(0, Math.round((live.memTotalKiB - live.memAvailableKiB) / 1024));
  const usable = Math.round(live.memTotalKiB / 1024);
  return { configured, guest: `guest uses ${used} of ${usable} MiB usable` };
}

/** m:ss for a countdown ("1:12"). */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** What a running task makes of the VM's state, for the badge (null: the state says it all). */
export function taskStateText(
  task: {
    kind: string;
    status: string;
    step: string;
    resetAt: string | null;
    graceEndsAt?: string | null;
    hardReset?: boolean;
  } | null,
  nowMs: number,
): { state: string; detail: string | null } | null {
  if (!task || (task.status !== "running" && task.status !== "queued")) return null;
  switch (task.kind) {
    case "reboot": {
      if (task.hardReset) return { state: "rebooting", detail: "hard reset under way" };
      if (task.resetAt)
        return {
          state: "rebooting",
          detail: `not back yet, hard reset in ${formatCountdown((Date.parse(task.resetAt) - nowMs) / 1000)}`,
        };
      if (task.graceEndsAt) {
        const left = (Date.parse(task.graceEndsAt) - nowMs) / 1000;
        return {
          state: "rebooting",
          detail:
            left > 0
              ? `waiting for the guest, hard reset offered in ${formatCountdown(left)}`
              : "waiting for the guest",
        };
      }
      return { state: "rebooting", detail: "waiting for the guest" };
    }
    case "start":
      return { state: "starting", detail: task.step || null };
    case "shutdown":
      return { state: "shutting down", detail: task.step || null };
    case "poweroff":
      return { state: "forcing off", detail: null };
    case "reset":
      return { state: "hard reset", detail: task.step || null };
    case "provision":
      return { state: "provisioning", detail: task.step || null };
    case "restore":
      return { state: "restoring a snapshot", detail: null };
    default:
      return null;
  }
}

function sentence(text: string): string {
  const t = text.trim();
  return t ? t[0]?.toUpperCase() + t.slice(1) : t;
}

/** How a boot began (vm.boots), as the boot history says it. */
const BOOT_CAUSE: Record<string, string> = {
  start: "Started",
  reboot: "Rebooted",
  "hard-reset": "Hard reset",
  restore: "Started by a snapshot restore",
  "found-running": "Found running when the host agent started",
};

/** How a boot ended. */
const BOOT_END: Record<string, string> = {
  shutdown: "Shut down",
  "force-off": "Forced off",
  reboot: "Rebooted",
  "hard-reset": "Hard reset",
  "guest-halt": "Halted from inside",
  crash: "Crashed",
};

export function bootCauseText(cause: string | null): string {
  return cause
    ? (BOOT_CAUSE[cause] ?? sentence(cause.replace(/-/g, " ")))
    : "Started (before boots were recorded)";
}

/** "Crashed: Kernel panic …", "Shut down", "Running", or how little is known. */
export function bootEndText(boot: {
  end: string | null;
  endDetail: string | null;
  running: boolean;
}): string {
  if (boot.running) return "Running";
  if (!boot.end) return "Ended (not seen)";
  const text = BOOT_END[boot.end] ?? sentence(boot.end.replace(/-/g, " "));
  return boot.endDetail ? `${text}: ${boot.endDetail}` : text;
}
