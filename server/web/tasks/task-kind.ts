/**
 * What one kind of long work is to the task pipeline (./pipeline.ts): its agent verb, its first
 * step, how its progress reads, how it settles, and the hooks of its own (snapshot rows, the VM
 * row, the reboot's stages). A new kind is one entry of this shape in ./kinds.ts.
 */
import type { ArgsOf, TaskInfo, TaskOp } from "../../protocol/agent";
import type { TaskDetail } from "../dal/tasks";
import type { AuditAction } from "../domain";

/** The task as the hooks see it: the Task row, its VM, and the facts stored with it (`data`). */
export type TaskRef = {
  taskId: string;
  vm: { id: string; name: string; ownerId: string };
  /** Whose history the task is in (the VM's owner, or the new owner of a change-owner). */
  ownerId: string;
  data: Record<string, unknown>;
};

/** A second agent verb the same task goes on with (provisioning's start). */
export type FollowOn<O extends TaskOp = TaskOp> = {
  op: O;
  args: ArgsOf<O>;
  step: string;
  progress: number;
  logText: string;
  /** Audited as this action, `during` the kind (e.g. vm.start during provision). */
  audit: { action: AuditAction; during: string };
};

export type TaskKindSpec = {
  op: TaskOp;
  firstStep: string;
  /** How long the pipeline follows one agent task before it gives up on it. */
  waitMs: (ref: TaskRef) => number;
  /** The bar while the agent task runs (0..100). */
  progressOf: (task: TaskInfo) => number;
  /** Extra detail the page reads from a running agent task (the reboot's countdown). */
  detailOf?: (task: TaskInfo) => TaskDetail;
  /** Sees each report with the row's detail from before it (log lines on a stage change). */
  onUpdate?: (ref: TaskRef, task: TaskInfo, before: TaskDetail) => Promise<void>;
  /** The agent refused the request: undo what was prepared for it. */
  onRefused?: (ref: TaskRef) => Promise<void>;
  /**
   * When the first verb succeeded, before anything follows it: what the VM must get from the web
   * tier before it first runs (a new VM: its owner's SSH keys). A throw fails the task with its message.
   */
  afterFirst?: (ref: TaskRef) => Promise<void>;
  /** When the first verb succeeded, the next one of the same task (or null: the task ends). */
  next?: (ref: TaskRef, task: TaskInfo) => FollowOn | null;
  /** Before the row ends: what the page shows with the end (snapshot rows, the VM row). */
  settle?: (ref: TaskRef, task: TaskInfo) => Promise<void>;
  /** After the row ended and was published (removing the VM row the task named). */
  afterEnd?: (ref: TaskRef, task: TaskInfo) => Promise<void>;
  /** Detail written with the end (the reboot's "ended with a hard reset"). */
  endDetailOf?: (task: TaskInfo, before: TaskDetail) => TaskDetail;
  successText: (ref: TaskRef, task: TaskInfo, before: TaskDetail) => string;
  /** The failed (or interrupted) task's message; default: the agent's error code in words. */
  failureText?: (ref: TaskRef, task: TaskInfo) => string;
};
