/**
 * What the browser's event streams carry (app/api/events, app/api/vms/[name]/events): the first
 * message of every connection is a snapshot, then `vm` and `task` events. Types only, shared by
 * the route handlers and the pages' reducers (components/vms/vm-view.ts).
 */
import type { TaskView } from "../dal/tasks";
import type { VmLive } from "./views";

/** One VM's page: its live state and its recent tasks (open ones included), newest first. */
export type VmSnapshot = { vm: VmLive; tasks: TaskView[] };

/** The dashboard: every VM the caller sees. */
export type VmsSnapshot = { vms: VmLive[] };
