/**
 * The task runner: one operation at a time per VM (in-memory locks), task records for `task.get`,
 * and `task()`, which answers a task verb at once and reports its work as `task.progress` /
 * `task.done` events. Locks and running tasks live in memory: none survives an agent restart (a
 * task that persists a marker is reported `interrupted` by the restarted agent instead).
 */
import {
  AGENT_LIMITS,
  type Op,
  type RebootProgress,
  type SnapshotInfo,
  type TaskInfo,
  type TaskOp,
  type VmStatus,
} from "../protocol/agent";
import { AgentFailure, toAgentError } from "./errors";
import type { EventBus } from "./event-bus";

const TASKS_KEPT = 500;

/** Sets the task's step (a short human text) and reports it. */
export type StepFn = (text: string) => void;

/** What a task's work may report besides its step (snapshots and reboots use it). */
export interface TaskHandle {
  log(line: string): void;
  progress(percent: number): void;
  setSnapshot(snapshot: SnapshotInfo | null): void;
  /** A reboot's stage and its step, reported in one event. */
  setReboot(reboot: RebootProgress, step: string): void;
  /** A copy of the task as it stands. */
  current(): TaskInfo;
}

export class TaskRunner {
  private locks = new Map<string, Op>();
  private tasks = new Map<string, TaskInfo>();

  /**
   * `settled(vm)` runs after a task's work, before its task.done (the VM's state event goes first).
   * `refuse(vm, op)`: why the VM takes no such operation now (e.g. a destroy was begun), or null.
   */
  constructor(
    private events: EventBus,
    private log: (line: string) => void,
    private settled: (vm: string) => Promise<void>,
    private refuse: (vm: string, op: Op) => string | null = () => null,
  ) {}

  /** One operation at a time per VM: a second gets `conflict` right away. */
  lock(name: string, op: Op): () => void {
    const holder = this.locks.get(name);
    if (holder) throw new AgentFailure("conflict", `${name} is busy with ${holder}`);
    const refused = this.refuse(name, op);
    if (refused) throw new AgentFailure("invalid-state", refused);
    this.locks.set(name, op);
    let released = false;
    return () => {
      if (!released && this.locks.get(name) === op) this.locks.delete(name);
      released = true;
    };
  }

  isBusy(name: string): Op | null {
    return this.locks.get(name) ?? null;
  }

  getTask(id: string): TaskInfo {
    const task = this.tasks.get(id);
    if (!task) throw new AgentFailure("not-found", "no such task");
    return task;
  }

  /** Keeps a task (e.g. one a restarted agent found interrupted) for task.get. */
  recordTask(task: TaskInfo): void {
    this.tasks.set(task.id, task);
    while (this.tasks.size > TASKS_KEPT) this.tasks.delete(this.tasks.keys().next().value as string);
  }

  /**
   * Runs `work` as a task: `prepare` runs before the reply (its errors are the request's errors,
   * e.g. conflict), `work` runs after it with progress and a final task.done event.
   */
  async task<T>(
    id: string,
    op: TaskOp,
    vm: string,
    prepare: () => Promise<T>,
    work: (prepared: T, step: StepFn, handle: TaskHandle) => Promise<VmStatus | null>,
  ): Promise<TaskInfo> {
    const prepared = await prepare();
    const task: TaskInfo & { log: string[] } = {
      id,
      op,
      vm,
      state: "running",
      step: "accepted",
      startedAt: new Date().toISOString(),
      endedAt: null,
      error: null,
      result: null,
      progress: null,
      log: [],
      snapshot: null,
      reboot: null,
    };
    this.recordTask(task);
    const copy = (): TaskInfo => ({ ...task, log: [...task.log], reboot: task.reboot && { ...task.reboot } });
    const emit = () => this.events.emit({ v: 1, type: "task.progress", task: copy() });
    const step = (text: string) => {
      task.step = text;
      emit();
    };
    const handle: TaskHandle = {
      log: (line) => {
        task.log.push(line);
        if (task.log.length > AGENT_LIMITS.taskLogLines) task.log.shift();
        this.log(`task ${op} ${vm} ${id}: ${line}`);
        emit();
      },
      progress: (percent) => {
        const rounded = Math.max(0, Math.min(100, Math.round(percent)));
        if (rounded === task.progress) return;
        task.progress = rounded;
        emit();
      },
      setSnapshot: (snapshot) => {
        task.snapshot = snapshot;
      },
      setReboot: (reboot, text) => {
        task.reboot = { ...reboot };
        task.step = text;
        emit();
      },
      current: copy,
    };
    const started = Date.now();
    void (async () => {
      try {
        task.result = await work(prepared, step, handle);
        task.state = "succeeded";
        task.step = "done";
      } catch (error) {
        task.state = "failed";
        task.error = toAgentError(error);
        if (!(error instanceof AgentFailure)) this.log(`task ${op} ${vm} ${id}: ${(error as Error).stack}`);
      }
      task.endedAt = new Date().toISOString();
      this.log(
        `task op=${op} vm=${vm} id=${id} ${task.state}${task.error ? ` code=${task.error.code} (${task.error.message})` : ""} ms=${Date.now() - started}`,
      );
      // The VM's state event goes out before task.done, so a client that stops listening at the end has it.
      await this.settled(vm).catch(() => undefined);
      this.events.emit({ v: 1, type: "task.done", task: copy() });
    })();
    return copy();
  }
}
