import { NoInput, withPublic } from "@/server/web/auth/wrappers";

export const GET = withPublic(NoInput, async () => ({ status: "ok" }));
