/**
 * Which kernel modules a guest gets, resolved against the UML kernel's own `modules.dep`
 * (/usr/lib/uml/modules/<version>/): each module after everything it depends on, each once.
 */

/** `modules.dep` as a map from a module's path to the paths it needs (the kernel's own order). */
export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const needs = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    deps.set(path, needs);
  }
  return deps;
}

/** `kernel/net/ipv6/ipv6.ko` → `ipv6`; modprobe treats `-` and `_` alike. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, "").replaceAll("-", "_");
}

export class UnknownModuleError extends Error {
  override name = "UnknownModuleError";
}

/**
 * The load order for `wanted` (module names): dependencies first, each module once. A name that is
 * neither a module nor built in (`modules.builtin`) is an error, so a typo never ships silently.
 */
export function resolveModules(
  deps: Map<string, string[]>,
  wanted: readonly string[],
  builtin: ReadonlySet<string> = new Set(),
): { load: string[]; builtin: string[] } {
  const byName = new Map<string, string>();
  for (const path of deps.keys()) byName.set(moduleName(path), path);
  const load: string[] = [];
  const seen = new Set<string>();
  const inBuiltin: string[] = [];
  const visit = (path: string, chain: string[]) => {
    if (seen.has(path)) return;
    if (chain.includes(path)) throw new Error(`module dependency cycle: ${[...chain, path].join(" → ")}`);
    // modules.dep lists every (transitive) dependency of a module; visit them deepest first.
    for (const need of deps.get(path) ?? []) visit(need, [...chain, path]);
    seen.add(path);
    load.push(path);
  };
  for (const want of wanted) {
    const name = want.replaceAll("-", "_");
    const path = byName.get(name);
    if (path) visit(path, []);
    else if (builtin.has(name)) inBuiltin.push(name);
    else
      throw new UnknownModuleError(`kernel module ${JSON.stringify(want)} is neither a module nor built in`);
  }
  return { load, builtin: inBuiltin };
}

/** `modules.builtin` (paths of modules compiled in) as a set of names. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean)
      .map(moduleName),
  );
}
