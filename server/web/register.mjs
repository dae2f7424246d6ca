// `node --import ./server/web/register.mjs file.ts`: TypeScript through tsx, and `server-only`
// mapped to an empty module (it throws outside a React Server bundle, but the custom server, the
// CLI and scripts import DAL modules directly). Next's own bundles are unaffected.
import { register } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

const stub = new URL("./testing/server-only-stub.ts", import.meta.url).href;
register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === "server-only") return { url: ${JSON.stringify(stub)}, shortCircuit: true };
  return next(specifier, context);
}`)}`,
);
registerTsx();
