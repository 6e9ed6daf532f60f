import { Fn, IResolveContext, ITerraformIterator, Lazy, Token, ref } from "cdktf";
import { LoopbackPolicyError } from "../policy/errors";
import { ConnectionSpec, HostSpec } from "../policy/fleet";
import { PolicyOptions } from "../policy/options";
import { Host } from "../policy/model";
import { quoteValue } from "../policy/quote";
import { HostEntry, hostFacts } from "./host-entries";
import { Precondition, deferredPreconditions } from "./preconditions";
import { interpolationEnd, quotedTemplateBody } from "./terraform-text";

/**
 * Hosts that Terraform expands from a collection: one host per element of `forEach` (a `map(object)` variable,
 * another resource's `for_each`, a list), all sharing this entry's policy and connection settings, each named by
 * its element's key. Adding an element to the collection adds a host to the policy, with no code change.
 *
 * The connection fields take tokens from the iterator (`it.getString("address")`, `Token.asNumber(it.getNumber("port"))`),
 * checked by Terraform with the same messages as literal values. The element keys must be known at plan time
 * (Terraform's rule for `for_each`) and be usable host names (1-63 letters, digits, '.', '_', '-'), unique across
 * the policy's hosts and sets: Terraform checks both before any host is touched.
 */
export interface HostSetSpec extends ConnectionSpec {
  /**
   * The set's name (not a host's): its hosts are in the resource `<type>.<id>_<name>["<key>"]`. 1-63 letters,
   * digits, '_' or '-', starting with a letter.
   */
  readonly name: string;
  /** The address SSH connects to, for each element: a token from the iterator (`it.getString("address")`). */
  readonly address: string;
  /**
   * Overrides of the fleet policy for every host of the set.
   * @default the fleet policy
   */
  readonly policy?: PolicyOptions;
  /**
   * Labels every host of the set carries (literal).
   * @default {}
   */
  readonly labels?: { [key: string]: string };
  /**
   * The collection: `TerraformIterator.fromMap(variable.value)`, `TerraformIterator.fromResources(instances)`
   * (a resource with `for_each`), `TerraformIterator.fromList(names)`, or any other cdktf iterator.
   */
  readonly forEach: ITerraformIterator;
}

/** The host sets of the props, checked for shape: the specs without their collection (for validation), and the collections. */
export function checkHostSets(value: unknown): { specs: HostSpec[]; iterators: ITerraformIterator[] } {
  if (value === undefined) return { specs: [], iterators: [] };
  if (!Array.isArray(value)) {
    throw new LoopbackPolicyError("hostSets", `${quoteValue(value)} is not a list`, "pass a list: hostSets: [{ name: \"web\", forEach: it, address: it.getString(\"address\") }]");
  }
  const specs: HostSpec[] = [];
  const iterators: ITerraformIterator[] = [];
  value.forEach((set: unknown, i) => {
    if (set === null || typeof set !== "object" || Array.isArray(set)) {
      throw new LoopbackPolicyError(`hostSets[${i}]`, `${quoteValue(set)} is not an object`, "give { name, forEach, address } and any connection or policy fields");
    }
    const { forEach, ...spec } = set as Record<string, unknown>;
    if (forEach === null || typeof forEach !== "object" || typeof (forEach as ITerraformIterator)._getForEachExpression !== "function") {
      throw new LoopbackPolicyError(
        `hostSets[${i}].forEach`,
        forEach === undefined ? "missing" : "is not a cdktf iterator",
        "pass an iterator over the hosts' collection: TerraformIterator.fromMap(variable.value), TerraformIterator.fromResources(instances) or TerraformIterator.fromList(names)",
      );
    }
    if (typeof spec.address === "string" && !Token.isUnresolved(spec.address)) {
      throw new LoopbackPolicyError(
        `hostSets[${i}].address`,
        `${quoteValue(spec.address)} is literal: every host of the set would be that one machine, each instance removing the others' rules`,
        "take the address from the iterator: address: it.getString(\"address\") (or another value that differs per element)",
      );
    }
    specs.push(spec as unknown as HostSpec);
    iterators.push(forEach as ITerraformIterator);
  });
  return { specs, iterators };
}

/** The key of the element a resource instance is for: `each.key`. */
export const EACH_KEY: string = Token.asString(ref("each.key"));

/**
 * What a host-set resource's `input`/`triggers` hold for each instance (the host entry with `each.key` as the name,
 * its generation computed by Terraform over the facts' values, the policy's script, and `extra`), and the value
 * whose change replaces the instance (the generation).
 * @param script the policy's script (a token: the policy-scripts local at the policy's key)
 */
export function hostSetInput(template: Host, policyKey: string, script: string, extra: Record<string, string> = {}): { input: string; replace: string } {
  // Literal values as they are: cdktf writes them as Terraform string literals inside the Fn call (escaping them).
  const facts = hostFacts(template, policyKey, undefined, { literal: (t) => t, name: EACH_KEY });
  const generation = Token.asString(Fn.substr(Fn.sha256(Fn.jsonencode(facts)), 0, 8));
  return { input: Token.asString(Fn.merge([facts, { generation, policy_script: script, ...extra }])), replace: generation };
}

/**
 * A value as a Terraform expression (to write inside `${...}`): the text cdktf resolves it to, which is template
 * text (`${each.value.address}`, `web-${each.key}`, or a literal), as an expression: a single interpolation
 * becomes its expression, anything else a quoted template with its literal parts escaped.
 */
export function expressionOf(context: IResolveContext, value: unknown): string {
  const text = context.resolve(value);
  if (typeof text !== "string") return JSON.stringify(text);
  if (text.startsWith("${") && interpolationEnd(text, 0) === text.length - 1) return `(${text.slice(2, -1)})`;
  return `"${quotedTemplateBody(text)}"`;
}

/**
 * Text whose `${@X}` placeholders (keys of `values`) become the values' expressions when the stack is synthesized;
 * `${@X:kv}` the same expression for the element `k`, `v` of a for expression (`each.key`/`each.value` rebound).
 */
function lazyExpression(template: string, values: Record<string, unknown>): string {
  return Lazy.stringValue({
    produce: (context) => template.replace(/\$\{@([a-z_0-9]+)(:kv)?\}/g, (_m, key: string, kv?: string) => {
      const e = expressionOf(context, values[key]);
      return kv ? rebind(e) : e;
    }),
  });
}

/** An expression of the current element (`each.key`, `each.value`) as one of `k`, `v` (outside string literals). */
export function rebind(expression: string): string {
  let out = "";
  let i = 0;
  while (i < expression.length) {
    if (expression[i] === '"') {
      let j = i + 1;
      while (j < expression.length && expression[j] !== '"') j += expression[j] === "\\" ? 2 : 1;
      out += expression.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = /^each\.(key|value)\b/.exec(expression.slice(i));
    if (m && !/[A-Za-z0-9_.]/.test(expression[i - 1] ?? "")) {
      out += m[1] === "key" ? "k" : "v";
      i += m[0].length;
      continue;
    }
    out += expression[i];
    i++;
  }
  return out;
}

// Terraform's RE2, written without backslashes: the same language as a host name in lib/policy/validate.ts.
const HOST_NAME_RE = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";

/**
 * The preconditions of host set `index`: every element's key is a usable host name and is not the name of another
 * host of the policy (a host named in code, or a key of an earlier set), and the set's token fields hold valid
 * values for this element (the checks validation gives literal values, with the same messages).
 * @param forEach the set's collection
 * @param staticNames the names of the hosts named in code
 * @param staticTargets `address:port` of the hosts named in code whose address and port are literal
 * @param earlier the sets before this one, with their collections
 */
export function hostSetPreconditions(
  template: Host,
  policyKey: string,
  index: number,
  forEach: ITerraformIterator,
  staticNames: readonly string[],
  staticTargets: readonly string[],
  earlier: ReadonlyArray<{ readonly template: Host; readonly forEach: ITerraformIterator }>,
): Precondition[] {
  const field = `hostSets[${index}]`;
  const out: Precondition[] = [
    {
      condition: `\${can(regex("${HOST_NAME_RE}", each.key))}`,
      error_message: `${field} (${template.name}): the key \${jsonencode(each.key)} of its collection is not a usable host name. Fix: key the collection by 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (it becomes the host's resource key)`,
    },
  ];
  if (staticNames.length > 0) {
    out.push({
      condition: `\${!contains(${JSON.stringify(staticNames.map((n) => n.toLowerCase()))}, lower(each.key))}`,
      error_message: `${field} (${template.name}): the key \${jsonencode(each.key)} of its collection is already the name of a host in hosts (names are compared without case). Fix: rename one of them; two resources converging one host would fight over its rules`,
    });
  }
  out.push({
    condition: lazyExpression("${length([for k in try(keys(${@c}), tolist(${@c})) : k if lower(k) == lower(each.key)]) == 1}", { c: forEach._getForEachExpression() }),
    error_message: `${field} (${template.name}): the key \${jsonencode(each.key)} of its collection differs from another only in case (names are compared without case). Fix: give the elements keys that differ in more than case`,
  });
  // One machine (address and SSH port) under two names would be converged by two instances removing each other's rules.
  const target = { a: template.address, p: String(template.port) };
  out.push({
    condition: lazyExpression("${length([for k, v in ${@c} : k if lower(\"${${@a:kv}}:${${@p:kv}}\") == lower(\"${${@a}}:${${@p}}\")]) == 1}", { c: forEach._getForEachExpression(), ...target }),
    error_message: lazyExpression(`${field} (${template.name}): the element \${jsonencode(each.key)} has the address and port \${jsonencode("\${\${@a}}:\${\${@p}}")} of another element of the set. Fix: give each element its own machine; two hosts on one machine would remove each other's rules`, target),
  });
  if (staticTargets.length > 0) {
    out.push({
      condition: lazyExpression(`\${!contains(${JSON.stringify(staticTargets.map((t) => t.toLowerCase()))}, lower("\${\${@a}}:\${\${@p}}"))}`, target),
      error_message: lazyExpression(`${field} (${template.name}): the element \${jsonencode(each.key)} has the address and port \${jsonencode("\${\${@a}}:\${\${@p}}")} of a host in hosts. Fix: give each host its own machine; two hosts on one machine would remove each other's rules`, target),
    });
  }
  earlier.forEach((e, j) => {
    out.push({
      condition: lazyExpression("${!contains([for k, v in ${@c} : lower(\"${${@a:kv}}:${${@p:kv}}\")], lower(\"${${@ta}}:${${@tp}}\"))}", { c: e.forEach._getForEachExpression(), a: e.template.address, p: String(e.template.port), ta: template.address, tp: String(template.port) }),
      error_message: lazyExpression(`${field} (${template.name}): the element \${jsonencode(each.key)} has the address and port \${jsonencode("\${\${@a}}:\${\${@p}}")} of an element of hostSets[${j}]. Fix: give each host its own machine; two hosts on one machine would remove each other's rules`, target),
    });
  });
  earlier.forEach(({ forEach: it }, j) => {
    out.push({
      condition: lazyExpression("${!contains([for k in try(keys(${@c}), tolist(${@c})) : lower(k)], lower(each.key))}", { c: it._getForEachExpression() }),
      error_message: `${field} (${template.name}): the key \${jsonencode(each.key)} of its collection is also a key of hostSets[${j}]'s (names are compared without case). Fix: give the hosts of the two sets different keys; two resources converging one host would fight over its rules`,
    });
  });
  const facts = hostFacts(template, policyKey, undefined, { literal: (t) => t, name: EACH_KEY }) as unknown as Record<string, string>;
  // Each check's text reads a fact as the placeholder ${@field}, made the fact's expression at synth.
  const checks = deferredPreconditions(template, (_check, f) => `\${@${f}}`);
  return [...out, ...checks.map((c) => ({ condition: lazyExpression(c.condition, facts), error_message: lazyExpression(c.error_message, facts) }))];
}

/** The facts of a host set as text for the reviewer (`//` of its resource: Terraform ignores it): tokens as their expressions. */
export function hostSetComment(template: Host, policyKey: string, forEach: ITerraformIterator): Record<string, unknown> {
  const facts = hostFacts(template, policyKey, undefined, { literal: (t) => t, name: "" }) as unknown as Partial<HostEntry>;
  const { name: _name, ...rest } = facts;
  return { set: template.name, for_each: Token.asString(forEach._getForEachExpression()), facts: rest };
}
