import { UsageError } from "./errors";

/** The kind of value an option takes: `--dir x` (string), `--host a --host b` (list), `--no-record` (flag). */
export type OptionKind = "string" | "list" | "flag";

/** Parsed options: strings, lists of strings, or true for flags given. */
export type ParsedArgs = Record<string, string | string[] | true | undefined>;

/**
 * Parse `--name value`, `--name=value` and `--flag` against the known options. Throws {@link UsageError} for
 * an unknown option, a missing value, or a positional argument. `help` names the usage text for the fix.
 */
export function parseArgs(argv: readonly string[], known: Readonly<Record<string, OptionKind>>, help: string): ParsedArgs {
  const out: ParsedArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new UsageError(arg, "unexpected argument", `options start with --; see ${help}`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = known[name];
    if (kind === undefined) {
      const names = Object.keys(known).map((k) => `--${k}`).join(", ");
      throw new UsageError(`--${name}`, "unknown option", `use one of ${names}`);
    }
    if (kind === "flag") {
      if (eq >= 0) throw new UsageError(`--${name}`, "takes no value", `write --${name} alone`);
      out[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
    if (value === undefined || value === "") throw new UsageError(`--${name}`, "needs a value", `write --${name} <value>`);
    if (kind === "list") out[name] = [...((out[name] as string[] | undefined) ?? []), value];
    else out[name] = value;
  }
  return out;
}

/** A string option restricted to some values. */
export function oneOfOption<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[], fallback: T): T {
  const value = args[name];
  if (value === undefined) return fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${name}`, `unknown value ${JSON.stringify(value)}`, `use one of ${allowed.join(", ")}`);
}

/** A whole-number option within bounds. */
export function intOption(args: ParsedArgs, name: string, min: number, max: number, fallback: number): number {
  const value = args[name];
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name}`, `${JSON.stringify(value)} is out of range`, `use a whole number from ${min} to ${max}`);
  return n;
}
