import { isAbsolute, resolve } from "path";
import { LocalBackend, PgBackend, TerraformStack } from "cdktf";
import { LoopbackPolicyError } from "../policy/errors";
import { isPlainKey, quoteValue } from "../policy/quote";

/**
 * Where each stack's Terraform state lives, from the fleet file's `backend`.
 *
 * - absent, or `{ "type": "local" }`: cdktf's default local backend, `terraform.<stack>.tfstate` next to
 *   cdktf.json (one file per stack). Zero set-up; no sharing between machines; locking only on this machine.
 * - `{ "type": "local", "path": "state/{stack}.tfstate" }`: that file per stack (`{stack}` is replaced; required
 *   when there is more than one stack); a relative path is taken from the fleet file's directory.
 * - `{ "type": "pg", "connStr"?: "postgres://...", "schemaPrefix"?: "loopback_" }`: Terraform's pg backend, one
 *   schema per stack (`<schemaPrefix><stack>`, lower case, `-` as `_`), with its advisory-lock locking. Without
 *   `connStr` nothing about the connection is written to the synthesized JSON: Terraform reads `PG_CONN_STR` (or
 *   the libpq variables `PGHOST`, `PGUSER`, `PGPASSWORD`, ...) itself when it runs.
 */
export type BackendSpec =
  | { readonly type: "local"; readonly path?: string }
  | { readonly type: "pg"; readonly connStr?: string; readonly schemaPrefix?: string };

/** A validated backend. */
export type Backend =
  | { readonly type: "local"; readonly path?: string }
  | { readonly type: "pg"; readonly connStr?: string; readonly schemaPrefix: string };

export const DEFAULT_SCHEMA_PREFIX = "loopback_";
/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1), which could make two stacks share one. */
const MAX_IDENTIFIER = 63;
/** Terraform's pg backend writes the schema name into its SQL unquoted: keep to what needs no quoting. */
const SCHEMA_PREFIX = /^[a-z_][a-z0-9_]{0,39}$/;
const LOCAL_PATH = /^[A-Za-z0-9._/+@{}-][A-Za-z0-9._/+@{} -]{0,1023}$/;

/**
 * Validate a fleet file's `backend`. `stacks` are the stack names it will serve: a shared local path must hold
 * `{stack}` when there are several, and pg schema names must be distinct and short enough.
 * @param baseDir where a relative local `path` is taken from (the fleet file's directory)
 */
export function checkBackend(value: unknown, stacks: readonly string[], baseDir: string): Backend {
  if (value === undefined) return { type: "local" };
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new LoopbackPolicyError("backend", `${quoteValue(value)} is not an object`, 'use { "type": "pg" } (with PG_CONN_STR set) or { "type": "local" }, or leave backend out');
  }
  const spec = value as Record<string, unknown>;
  switch (spec.type) {
    case "local": {
      knownFields(spec, ["type", "path"]);
      if (spec.path === undefined) return { type: "local" };
      if (typeof spec.path !== "string" || !LOCAL_PATH.test(spec.path) || spec.path.split("/").includes("..")) {
        throw new LoopbackPolicyError("backend.path", `${quoteValue(spec.path)} is not a usable state file path`, 'give a file path such as "state/{stack}.tfstate" (letters, digits, spaces and ._/+@-{}; no ".."; no "~"), or leave it out for terraform.<stack>.tfstate');
      }
      if (stacks.length > 1 && !spec.path.includes("{stack}")) {
        throw new LoopbackPolicyError("backend.path", `every one of the ${stacks.length} stacks would keep its state in ${quoteValue(spec.path)}`, 'put "{stack}" in the path, e.g. "state/{stack}.tfstate"');
      }
      const path = isAbsolute(spec.path) ? spec.path : resolve(baseDir, spec.path);
      return { type: "local", path };
    }
    case "pg": {
      knownFields(spec, ["type", "connStr", "schemaPrefix"]);
      const { connStr, schemaPrefix = DEFAULT_SCHEMA_PREFIX } = spec;
      if (connStr !== undefined && (typeof connStr !== "string" || connStr.trim() === "")) {
        throw new LoopbackPolicyError("backend.connStr", `${quoteValue(connStr)} is not a connection string`, 'leave it out and set PG_CONN_STR when deploying (keeps credentials out of cdktf.out), or give "postgres://user@host/db"');
      }
      if (typeof schemaPrefix !== "string" || !SCHEMA_PREFIX.test(schemaPrefix)) {
        throw new LoopbackPolicyError("backend.schemaPrefix", `${quoteValue(schemaPrefix)} is not a usable schema name prefix`, "use 1-40 lower-case letters, digits and '_', starting with a letter or '_' (Terraform writes the schema name into SQL unquoted)");
      }
      const backend = { type: "pg" as const, ...(connStr === undefined ? {} : { connStr: connStr as string }), schemaPrefix };
      const seen = new Map<string, string>();
      for (const stack of stacks) {
        const schema = schemaName(backend, stack);
        if (schema.length > MAX_IDENTIFIER) {
          throw new LoopbackPolicyError("backend.schemaPrefix", `the schema of stack "${stack}" would be "${schema}", longer than PostgreSQL's ${MAX_IDENTIFIER} characters`, "use a shorter schemaPrefix or stack name (or shorter label values)");
        }
        const other = seen.get(schema);
        if (other !== undefined) {
          throw new LoopbackPolicyError("backend", `stacks "${other}" and "${stack}" would share the schema "${schema}" (schema names are lower case, '-' becomes '_')`, "rename the stack or label values so that they differ by more than case and '-'/'_'");
        }
        seen.set(schema, stack);
      }
      return backend;
    }
    default:
      throw new LoopbackPolicyError("backend.type", `unknown value ${quoteValue(spec.type)}`, 'use "pg" or "local" (other backends: see docs/SCALE.md)');
  }
}

/** The pg schema of a stack: `<prefix><stack>`, lower case, anything but `[a-z0-9_]` as `_`. */
export function schemaName(backend: { readonly schemaPrefix: string }, stack: string): string {
  return `${backend.schemaPrefix}${stack}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/** Give a stack its backend. The default local backend is left to cdktf (`terraform.<stack>.tfstate`). */
export function addBackend(stack: TerraformStack, stackName: string, backend: Backend): void {
  if (backend.type === "local") {
    if (backend.path !== undefined) new LocalBackend(stack, { path: backend.path.split("{stack}").join(stackName) });
    return;
  }
  // PgBackendConfig requires connStr; without one, the escape hatch removes the attribute from the JSON
  // (an override set to undefined deletes it), and Terraform falls back to PG_CONN_STR / libpq's PG* variables.
  const pg = new PgBackend(stack, { connStr: backend.connStr ?? "", schemaName: schemaName(backend, stackName) });
  if (backend.connStr === undefined) pg.addOverride("conn_str", undefined);
}

function knownFields(spec: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(spec)) {
    if (!known.includes(key)) {
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      const plain = isPlainKey(key);
      throw new LoopbackPolicyError(plain ? `backend.${key}` : "backend", `unknown field ${plain ? "" : `${quoteValue(key)} `}for backend type ${quoteValue(spec.type)}`, near ? `did you mean "${near}"?` : `remove it; known fields are ${known.join(", ")}`);
    }
  }
}
