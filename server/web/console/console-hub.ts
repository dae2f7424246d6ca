import type { ConsoleControl } from "../../protocol/console";

export type ConsoleRole = "admin" | "member";

/** One open console, as the hub sees it. ConsoleSession implements this. */
export interface ConsoleViewer {
  readonly userId: string;
  readonly username: string;
  readonly role: ConsoleRole;
  readonly vmId: string;
  readonly vmOwnerId: string;
  readonly since: Date;
  /** Pushes a control frame to this viewer's browser. */
  sendControl(message: ConsoleControl): void;
  /** Ends the session (revocation, shutdown). */
  close(reason: ConsoleCloseReason): void;
}

export type ConsoleCloseReason = "revoked" | "shutdown" | "idle" | "unavailable";

/** Called when an admin opens a console on a VM they do not own, e.g. to write an audit event. */
export type AdminOpenedConsole = (event: {
  adminUserId: string;
  adminUsername: string;
  vmId: string;
  vmOwnerId: string;
}) => void;

export interface ConsoleHubOptions {
  /** Open consoles (and upgrades in progress) one user may hold. */
  maxPerUser?: number;
  /** Open consoles (and upgrades in progress) on this web process. */
  maxTotal?: number;
  onAdminOpened?: AdminOpenedConsole;
}

export type SlotRefusal = "user-cap" | "global-cap";

/** A viewer as the `viewers` list shows it (also what another web instance reports of its own). */
export type ViewerInfo = { user: string; role: ConsoleRole; since: string };

/** A reserved connection slot; `release` is idempotent. */
export interface ConsoleSlot {
  release(): void;
}

/**
 * Who watches which VM, on this web process: connection caps, the `viewers` list pushed to every
 * viewer of a VM, the notice a member sees when an admin opens their console, and closing every
 * console of a user when their access is revoked.
 */
export class ConsoleHub {
  readonly maxPerUser: number;
  readonly maxTotal: number;
  readonly #adminOpenedListeners = new Set<AdminOpenedConsole>();
  readonly #slotsByUser = new Map<string, number>();
  #slots = 0;
  readonly #viewersByVm = new Map<string, Set<ConsoleViewer>>();
  /** Viewers of a VM on the other web instances (set by ./console-hub-instance.ts). */
  readonly #remoteByVm = new Map<string, ViewerInfo[]>();
  readonly #presenceListeners = new Set<(vmId: string) => void>();

  constructor(options: ConsoleHubOptions = {}) {
    this.maxPerUser = options.maxPerUser ?? 4;
    this.maxTotal = options.maxTotal ?? 200;
    if (options.onAdminOpened) this.#adminOpenedListeners.add(options.onAdminOpened);
  }

  /** Adds a listener for admins opening members' consoles (the audit log); returns its removal. */
  onAdminOpened(listener: AdminOpenedConsole): () => void {
    this.#adminOpenedListeners.add(listener);
    return () => this.#adminOpenedListeners.delete(listener);
  }

  /** Adds a listener for changes of this process's viewers of a VM; returns its removal. */
  onPresence(listener: (vmId: string) => void): () => void {
    this.#presenceListeners.add(listener);
    return () => this.#presenceListeners.delete(listener);
  }

  /** This process's viewers of a VM, as the list shows them. */
  localViewerInfo(vmId: string): ViewerInfo[] {
    return [...(this.#viewersByVm.get(vmId) ?? [])].map((v) => ({
      user: v.username.slice(0, 64),
      role: v.role,
      since: v.since.toISOString(),
    }));
  }

  hasViewers(vmId: string): boolean {
    return (this.#viewersByVm.get(vmId)?.size ?? 0) > 0;
  }

  /** The VMs this process has viewers of. */
  watchedVms(): string[] {
    return [...this.#viewersByVm.keys()];
  }

  /** What the other web instances say of a VM's viewers: merged into the list pushed here. */
  setRemoteViewers(vmId: string, viewers: ViewerInfo[]): void {
    if (viewers.length) this.#remoteByVm.set(vmId, viewers);
    else this.#remoteByVm.delete(vmId);
    this.#announce(vmId);
  }

  /** An admin opened this VM's console on another web instance: its viewers here are told. */
  noticeAdminOpened(vmId: string, adminUsername: string): void {
    const text = `Admin ${adminUsername} opened this console.`;
    for (const viewer of this.#viewersByVm.get(vmId) ?? []) viewer.sendControl({ type: "notice", text });
  }

  /** Reserves a slot before the upgrade, so upgrades in flight count against the caps too. */
  acquire(userId: string): ConsoleSlot | SlotRefusal {
    const mine = this.#slotsByUser.get(userId) ?? 0;
    if (this.#slots >= this.maxTotal) return "global-cap";
    if (mine >= this.maxPerUser) return "user-cap";
    this.#slots++;
    this.#slotsByUser.set(userId, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#slots--;
        const left = (this.#slotsByUser.get(userId) ?? 1) - 1;
        if (left <= 0) this.#slotsByUser.delete(userId);
        else this.#slotsByUser.set(userId, left);
      },
    };
  }

  get openSlots(): number {
    return this.#slots;
  }

  join(viewer: ConsoleViewer): void {
    let set = this.#viewersByVm.get(viewer.vmId);
    if (!set) {
      set = new Set();
      this.#viewersByVm.set(viewer.vmId, set);
    }
    set.add(viewer);
    if (viewer.role === "admin" && viewer.userId !== viewer.vmOwnerId) {
      const text = `Admin ${viewer.username} opened this console.`;
      for (const other of set) if (other !== viewer) other.sendControl({ type: "notice", text });
      const event = {
        adminUserId: viewer.userId,
        adminUsername: viewer.username,
        vmId: viewer.vmId,
        vmOwnerId: viewer.vmOwnerId,
      };
      for (const listener of this.#adminOpenedListeners) {
        try {
          listener(event);
        } catch (error) {
          console.error("[console] admin-opened listener failed:", error);
        }
      }
    }
    this.#announce(viewer.vmId);
    this.#presenceChanged(viewer.vmId);
  }

  leave(viewer: ConsoleViewer): void {
    const set = this.#viewersByVm.get(viewer.vmId);
    if (!set?.delete(viewer)) return;
    if (set.size === 0) {
      this.#viewersByVm.delete(viewer.vmId);
      this.#remoteByVm.delete(viewer.vmId);
    } else this.#announce(viewer.vmId);
    this.#presenceChanged(viewer.vmId);
  }

  #presenceChanged(vmId: string): void {
    for (const listener of this.#presenceListeners) {
      try {
        listener(vmId);
      } catch (error) {
        console.error("[console] presence listener failed:", error);
      }
    }
  }

  viewersOf(vmId: string): ConsoleViewer[] {
    return [...(this.#viewersByVm.get(vmId) ?? [])];
  }

  /** Closes every console the user has open (suspension, role change). Returns how many. */
  closeUser(userId: string, reason: ConsoleCloseReason = "revoked"): number {
    const mine = [...this.#viewersByVm.values()].flatMap((set) =>
      [...set].filter((v) => v.userId === userId),
    );
    for (const viewer of mine) viewer.close(reason);
    return mine.length;
  }

  /** Closes every console on a VM (VM deleted or given to another owner). Returns how many. */
  closeVm(vmId: string, reason: ConsoleCloseReason = "revoked"): number {
    const all = this.viewersOf(vmId);
    for (const viewer of all) viewer.close(reason);
    return all.length;
  }

  /** Closes everything, e.g. on web-tier shutdown (clients reconnect to the next process). */
  closeAll(reason: ConsoleCloseReason = "shutdown"): void {
    for (const set of [...this.#viewersByVm.values()]) for (const viewer of [...set]) viewer.close(reason);
  }

  #announce(vmId: string): void {
    const set = this.#viewersByVm.get(vmId);
    if (!set) return;
    const viewers = [...this.localViewerInfo(vmId), ...(this.#remoteByVm.get(vmId) ?? [])]
      .sort((a, b) => a.since.localeCompare(b.since))
      .slice(0, 64);
    for (const viewer of set) viewer.sendControl({ type: "viewers", viewers });
  }
}
