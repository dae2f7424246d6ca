import { NoInput, withMember } from "@/server/web/auth/wrappers";

/** The signed-in, active user. */
export const GET = withMember("vm.read", NoInput, async (_input, { caller }) => ({
  username: caller.username,
  name: caller.name,
  role: caller.role,
}));
