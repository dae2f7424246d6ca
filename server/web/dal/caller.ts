import type { Role, UserStatus } from "../domain";

/** The signed-in user as re-read from the database for this request. */
export type Caller = {
  id: string;
  username: string;
  name: string;
  email: string;
  role: Role;
  status: UserStatus;
};

/** Who did something, for the audit log: a signed-in user, the host CLI, or nobody yet. */
export type Actor = Pick<Caller, "id" | "username"> | "cli" | "anonymous" | "system";

export const callerSelect = {
  id: true,
  username: true,
  name: true,
  email: true,
  role: true,
  status: true,
  sessionVersion: true,
} as const;
