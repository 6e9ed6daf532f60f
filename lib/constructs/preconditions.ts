import { DeferredCheck, Host, HostFact } from "../policy/model";
import { terraformLiteral } from "./terraform-text";

/** A `lifecycle.precondition` block. */
export interface Precondition {
  readonly condition: string;
  readonly error_message: string;
}

/** Where each fact is in a host entry. */
export const ENTRY_FIELD: Record<HostFact, string> = {
  address: "address",
  port: "port",
  user: "user",
  privateKeyPath: "private_key_path",
  hostKey: "host_key",
  timeoutSeconds: "timeout",
  sudo: "sudo",
  "bastion.address": "bastion_host",
  "bastion.user": "bastion_user",
  "bastion.port": "bastion_port",
  "bastion.privateKeyPath": "bastion_private_key_path",
  "bastion.hostKey": "bastion_host_key",
};

// RE2 (Terraform's regex), written without backslashes: `[.]` for a dot. The same languages as lib/policy/validate.ts.
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = `^${OCTET}([.]${OCTET}){3}$`;
const LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const DNS = `^(${LABEL})([.]${LABEL})*[.]?$`;
const USER = "^[a-z_][a-z0-9_.-]{0,31}$";
const KEY_PATH = "^[A-Za-z0-9~._/+@-][A-Za-z0-9._/+@ -]{0,1023}$";
const ECDSA_KEY = "^ecdsa-sha2-nistp(256|384|521) [A-Za-z0-9+/]+={0,3}$";

/**
 * The Terraform condition (an expression, no `${}`) that holds when the value `v` (an expression) is valid.
 * @param fact the expression of another fact of the same host (rootNeedsSudo reads user and sudo)
 */
function valid(check: DeferredCheck, v: string, fact: (field: string) => string): string {
  const num = check.fact === "timeoutSeconds" ? `tonumber(trimsuffix(${v}, "s"))` : `tonumber(${v})`;
  switch (check.kind) {
    case "address": {
      const v4 = `try(can(regex("${IPV4}", ${v})) && tonumber(split(".", ${v})[0]) != 0 && tonumber(split(".", ${v})[0]) < 224, false)`;
      const h = `cidrhost("\${${v}}/128", 0)`;
      const v6 = `try(strcontains(${v}, ":") && ${h} != "::" && cidrhost("\${${v}}/8", 0) != "ff00::" && cidrhost("\${${v}}/10", 0) != "fe80::" && !can(regex("^(0|22[4-9]|2[3-5][0-9])[.]", ${h})), false)`;
      const dns = `try(length(${v}) <= 253 && can(regex("${DNS}", ${v})) && !can(regex("^[0-9.]+$", ${v})) && !can(regex("(^|[.])(0[xX][0-9a-fA-F]*|[0-9]+)[.]?$", ${v})), false)`;
      return `${v4} || ${v6} || ${dns}`;
    }
    case "user":
      return `can(regex("${USER}", ${v}))`;
    case "keyPath":
      return `try(${v} == "" || (can(regex("${KEY_PATH}", ${v})) && !contains(split("/", ${v}), "..")), false)`;
    case "hostKey":
      return `try(${v} == "" || can(regex("${ECDSA_KEY}", ${v})), false)`;
    case "int":
      return `try(${num} >= ${check.min} && ${num} <= ${check.max} && floor(${num}) == ${num}, false)`;
    case "timeoutAboveRollback":
      return `try(${num} > ${check.min}, false)`;
    case "rootNeedsSudo":
      return `try(${fact("user")} == "root" || ${fact("sudo")} == "1", false)`;
    case "sshPort":
      return `try(${(check.ranges ?? []).map(([from, to]) => `!(${num} >= ${from} && ${num} <= ${to})`).join(" && ")}, false)`;
  }
}

/** Values that may be shown in an error message (never key paths or host keys). */
const SHOWN = new Set<DeferredCheck["kind"]>(["address", "user", "int", "timeoutAboveRollback"]);

/**
 * The preconditions of a host's deferred checks, for the resource that carries it: each holds for every other
 * instance (`each.key != "<host>" || ...`) and, for this host, checks the value in its entry
 * (`local.<id>_hosts["<host>"]`), failing plan (or apply, when the value is known only then) with the message
 * validation gives a literal: `<field>: <value> <problem>. Fix: <fix>`.
 */
export function preconditionsFor(host: Host, hostsLocal: string): Precondition[] {
  return deferredPreconditions(host, (check, field) => `local.${hostsLocal}["${check.of ?? host.name}"].${field}`, `each.key != "${host.name}" || `);
}

/**
 * The preconditions of a host's deferred checks, reading each fact through `fact` (an expression of the host
 * entry's field), each condition after `guard` (which makes it hold for the resource's other instances).
 */
export function deferredPreconditions(host: Host, fact: (check: DeferredCheck, field: string) => string, guard = ""): Precondition[] {
  return (host.deferred ?? []).map((check) => {
    const v = fact(check, ENTRY_FIELD[check.fact]);
    const shown = SHOWN.has(check.kind) ? `\${try(jsonencode(${v}), "the value")} ` : "the value ";
    const subject = check.kind === "sshPort" || check.kind === "rootNeedsSudo" || check.kind === "timeoutAboveRollback" ? "" : shown;
    return {
      condition: `\${${guard}(${valid(check, v, (field) => fact(check, field))})}`,
      error_message: `${check.field}: ${subject}${terraformLiteral(check.problem)}. Fix: ${terraformLiteral(check.fix)}`,
    };
  });
}
