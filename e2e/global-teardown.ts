/** Stops every VM the run started (by pid), the run's agent, and deletes its host users and group. */
import { cleanupAgent } from "./agent-stack";

export default async function globalTeardown() {
  await cleanupAgent();
}
