/**
 * How an error message quotes a value the user gave.
 *
 * Error messages end up in terminals, CI logs and issue reports. A value pasted into the wrong field can be a
 * secret (a private key in `privateKeyPath`, a token in a label), so a message never prints a value whole when
 * it looks like one: it shows at most a short harmless prefix (a PEM header line, or the text before the first
 * long base64 run or line break), what kind of value it is and its length:
 * `"-----BEGIN OPENSSH PRIVATE KEY-----…" (a private key, 1,675 characters; not shown)`.
 * Short, plain values are quoted as JSON, as before: `"web 1"`, `70000`, `["web"]`.
 */

/** Longest value (as JSON) that is quoted whole. */
const MAX_SHOWN = 80;
/** At most this much of a secret-looking value's prefix is shown. */
const MAX_PREFIX = 40;
/**
 * A run of base64 this long, mixing at least two of lower case, upper case, digits and `+/`, is key material or a
 * token, never a name, path or address (`aaaa...` of a long name is not one).
 */
const BASE64_RUN_CANDIDATE = /[A-Za-z0-9+/]{24,}={0,2}/g;
const PEM_HEADER = /^-----BEGIN [A-Z0-9 ]{1,40}-----/;

/** `value` as an error message may quote it: JSON when short and plain, a redacted summary otherwise. */
export function quoteValue(value: unknown): string {
  if (typeof value === "string") return quoteString(value);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined; // BigInt, cycles
  }
  if (json === undefined) return typeof value === "bigint" ? `${String(value)}n` : `a ${typeof value}`;
  if (json.length <= MAX_SHOWN && !looksSecret(json)) return json;
  if (Array.isArray(value)) return `a list of ${count(value.length, "value")} (not shown)`;
  if (value !== null && typeof value === "object") return `an object with ${count(Object.keys(value).length, "field")} (not shown)`;
  return `a ${typeof value} of ${count(json.length, "character")} (not shown)`;
}

/** Why `text` would not be quoted whole, or `undefined` when it would be. */
export function secretKind(text: string): string | undefined {
  if (/PRIVATE KEY/.test(text)) return "a private key";
  if (/-----BEGIN /.test(text)) return "a PEM block";
  if (base64Run(text) !== undefined) return "base64 data";
  if (/[\r\n]/.test(text)) return "several lines";
  if (JSON.stringify(text).length > MAX_SHOWN) return "a long value";
  return undefined;
}

function looksSecret(text: string): boolean {
  return secretKind(text) !== undefined || /\\[nr]/.test(text);
}

function quoteString(text: string): string {
  const kind = secretKind(text);
  if (kind === undefined) return JSON.stringify(text);
  return `${JSON.stringify(`${safePrefix(text)}…`)} (${kind}, ${count(text.length, "character")}; not shown)`;
}

/** The PEM header line, or the text before the first line break or base64 run; never more than MAX_PREFIX. */
function safePrefix(text: string): string {
  const header = PEM_HEADER.exec(text);
  if (header) return header[0].slice(0, MAX_PREFIX);
  let prefix = text.split(/[\r\n]/)[0];
  const run = base64Run(prefix);
  if (run !== undefined) prefix = prefix.slice(0, run);
  if (/PRIVATE KEY|-----BEGIN/.test(prefix)) prefix = "";
  return prefix.slice(0, Math.min(MAX_PREFIX, 24));
}

/** Where the first base64 run of `text` starts, or `undefined`. */
function base64Run(text: string): number | undefined {
  for (const m of text.matchAll(BASE64_RUN_CANDIDATE)) {
    const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[+/]/].filter((c) => c.test(m[0])).length;
    if (classes >= 2) return m.index;
  }
  return undefined;
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
}

/** A key of an object the user gave is part of an error's field path only when it is a plain name. */
export function isPlainKey(key: string): boolean {
  return /^[A-Za-z0-9_$][A-Za-z0-9_$.:/-]{0,62}$/.test(key) && secretKind(key) === undefined;
}

/**
 * Redact what {@link quoteValue} would not show from a message built elsewhere: every JSON string literal in it
 * (`"..."`, as `JSON.stringify` writes one) that looks secret is replaced by its redacted form. A safety net for
 * messages that quote a value without {@link quoteValue}; text already redacted is left as it is.
 */
export function redactQuoted(message: string): string {
  return message.replace(/"(?:[^"\\\n]|\\.)*"/g, (literal) => {
    let text: unknown;
    try {
      text = JSON.parse(literal);
    } catch {
      return literal;
    }
    return typeof text === "string" && secretKind(text) !== undefined && !literal.endsWith('…"') ? quoteValue(text) : literal;
  });
}
