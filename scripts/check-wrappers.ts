/**
 * Fails when a server action or route handler could be reached without going through a wrapper
 * (server/web/auth/wrappers.ts): every export of a `"use server"` file must be
 * `publicAction|memberAction|adminAction(...)`, and every HTTP-method export of an `app/**\/route.ts`
 * must be `withPublic|withMember|withAdmin(...)`. Parsed with the TypeScript compiler API, so
 * re-exports (`export { x } from`, `export *`) and plain functions are caught too.
 *
 *   tsx scripts/check-wrappers.ts [root]
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

const ACTION_WRAPPERS = new Set(["publicAction", "memberAction", "adminAction"]);
const ROUTE_WRAPPERS = new Set(["withPublic", "withBodyCredential", "withMember", "withAdmin"]);
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Route segment config exports Next reads; not handlers. */
const ROUTE_CONFIG = new Set([
  "dynamic",
  "dynamicParams",
  "revalidate",
  "fetchCache",
  "runtime",
  "preferredRegion",
  "maxDuration",
]);
/**
 * Explicitly allowed unwrapped exports, "file:export" → why. Keep this empty unless a library
 * handler must be mounted as is (e.g. the Auth.js catch-all route, which we do not mount: sign-in
 * and sign-out run as wrapped server actions).
 */
const ALLOWED: Record<string, string> = {};

const SKIP_DIRS = new Set(["node_modules", ".next", ".git", ".data", ".cache", "dist", "generated"]);

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|tsx|js|jsx|mjs)$/.test(name) && !/\.(test|itest|spec)\./.test(name)) out.push(p);
  }
  return out;
}

function hasUseServerDirective(sf: ts.SourceFile): boolean {
  for (const st of sf.statements) {
    if (ts.isExpressionStatement(st) && ts.isStringLiteral(st.expression)) {
      if (st.expression.text === "use server") return true;
      continue;
    }
    break;
  }
  return false;
}

function wrapperName(init: ts.Expression | undefined): string | null {
  let e = init;
  while (e && (ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isParenthesizedExpression(e)))
    e = e.expression;
  if (e && ts.isCallExpression(e) && ts.isIdentifier(e.expression)) return e.expression.text;
  return null;
}

type Problem = { file: string; line: number; message: string };

export function checkFile(file: string, text: string, kind: "action" | "route"): Problem[] {
  const sf = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const problems: Problem[] = [];
  const wrappers = kind === "action" ? ACTION_WRAPPERS : ROUTE_WRAPPERS;
  const what = kind === "action" ? "server action" : "route handler";
  const report = (node: ts.Node, name: string, why: string) => {
    if (ALLOWED[`${file}:${name}`]) return;
    problems.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      message: `${what} export "${name}" ${why}`,
    });
  };
  const isExported = (n: ts.Node) =>
    ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const isTypeOnly = (n: ts.Node) => ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n);

  for (const st of sf.statements) {
    if (isTypeOnly(st)) continue;
    if (ts.isExportDeclaration(st)) {
      if (st.isTypeOnly) continue;
      if (!st.exportClause) {
        report(st, "*", "re-exports a whole module; export each wrapped action by name");
        continue;
      }
      if (ts.isNamedExports(st.exportClause))
        for (const el of st.exportClause.elements) {
          if (el.isTypeOnly) continue;
          const name = el.name.text;
          if (kind === "route" && !HTTP_METHODS.has(name)) continue;
          report(el, name, `is re-exported; define it here with ${[...wrappers].join("/")}(…)`);
        }
      continue;
    }
    if (ts.isExportAssignment(st)) {
      report(st, "default", "is a default export; use a named export built by a wrapper");
      continue;
    }
    if (!isExported(st)) continue;
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        const name = ts.isIdentifier(d.name) ? d.name.text : d.name.getText(sf);
        if (kind === "route" && !HTTP_METHODS.has(name)) {
          if (!ROUTE_CONFIG.has(name)) report(d, name, "is not an HTTP method or route config");
          continue;
        }
        const w = wrapperName(d.initializer);
        if (!w || !wrappers.has(w)) report(d, name, `must be built by ${[...wrappers].join("/")}(…)`);
      }
      continue;
    }
    const name =
      (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) && st.name
        ? st.name.text
        : "(anonymous)";
    if (kind === "route" && !HTTP_METHODS.has(name)) continue;
    report(st, name, `is a plain declaration; build it with ${[...wrappers].join("/")}(…)`);
  }
  return problems;
}

/** `"use server"` inside a function body defines an action no wrapper can guard: refuse it. */
export function inlineServerActions(file: string, sf: ts.SourceFile): Problem[] {
  const problems: Problem[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isBlock(node))
      for (const st of node.statements) {
        if (
          ts.isExpressionStatement(st) &&
          ts.isStringLiteral(st.expression) &&
          st.expression.text === "use server"
        )
          problems.push({
            file,
            line: sf.getLineAndCharacterOfPosition(st.getStart()).line + 1,
            message: 'inline "use server" function; put actions in a "use server" file, built by a wrapper',
          });
      }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return problems;
}

export function checkTree(root: string): Problem[] {
  const problems: Problem[] = [];
  for (const file of walk(root)) {
    const rel = path.relative(root, file);
    const text = readFileSync(file, "utf8");
    const isRoute = /^app\/(.*\/)?route\.(ts|tsx|js|mjs)$/.test(rel);
    if (isRoute) problems.push(...checkFile(rel, text, "route"));
    if (text.includes("use server")) {
      const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
      if (hasUseServerDirective(sf)) problems.push(...checkFile(rel, text, "action"));
      problems.push(...inlineServerActions(rel, sf));
    }
  }
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = path.resolve(process.argv[2] ?? ".");
  const problems = checkTree(root);
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`);
  if (problems.length) {
    console.error(`check:wrappers: ${problems.length} unwrapped export(s)`);
    process.exit(1);
  }
  console.log("check:wrappers: every server action and route handler is wrapped");
}
