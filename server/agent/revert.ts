/** Undo steps for multi-step host work (after Incus' revert helper): run in reverse on failure. */
export class Revert {
  private steps: Array<() => Promise<unknown> | unknown> = [];

  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }

  /** Success: forget the undo steps. */
  success(): void {
    this.steps = [];
  }

  async fail(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        console.error(`revert step failed: ${(error as Error).message}`);
      }
    }
  }
}
