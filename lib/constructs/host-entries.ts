import { createHash } from "crypto";
import { Fn, Op, Token } from "cdktf";
import { Host } from "../policy/model";
import { terraformLiteral } from "./terraform-text";

/**
 * One host's value in the resource's `for_each` map: every fact its provisioners and connection read through
 * `self` (so a destroy-time provisioner can use them), all strings (`null_resource` triggers are strings).
 */
export interface HostEntry {
  readonly name: string;
  readonly address: string;
  readonly port: string;
  readonly user: string;
  /** Empty: use the SSH agent. */
  readonly private_key_path: string;
  /** Empty: not pinned. */
  readonly host_key: string;
  /** Empty: no bastion (and the other bastion fields are ignored). */
  readonly bastion_host: string;
  readonly bastion_user: string;
  readonly bastion_port: string;
  readonly bastion_private_key_path: string;
  readonly bastion_host_key: string;
  readonly sudo: "0" | "1";
  /** Terraform duration: `300s`. */
  readonly timeout: string;
  /** Key of the policy script in the policy-scripts local. */
  readonly policy: string;
  /** The rollout wave, when the policy has a rollout: moving a host to another wave changes its generation. */
  readonly wave?: string;
  /**
   * 8 hex digits over everything above. It tags the host's managed rules; any change to the entry changes it,
   * which replaces the resource (create before destroy) and re-runs the script.
   */
  readonly generation: string;
}

/** Build a host's entry. Values are escaped for Terraform's template syntax. */
export function hostEntry(host: Host, policyKey: string, wave?: string): HostEntry {
  const facts = hostFacts(host, policyKey, wave);
  const generation = createHash("sha256").update(JSON.stringify(facts)).digest("hex").slice(0, 8);
  return { ...facts, generation };
}


/** A number as entry text: a token becomes a string token of the same expression (Terraform converts it). */
function numberText(value: number): string {
  return Token.isUnresolved(value) ? Token.asString(value) : String(value);
}

/** How a host's facts are written: literal text as it must appear, and the name. */
export interface FactsStyle {
  /**
   * Literal text as written: escaped for Terraform's templates in a JSON string (the default), or as it is
   * where cdktf writes it as a Terraform string literal itself (a value inside a `Fn` call, which cdktf escapes).
   * @default terraformLiteral
   */
  readonly literal?: (text: string) => string;
  /** The host's name: a token (`each.key`) for a host of a host set. @default the host's name */
  readonly name?: string;
}

/**
 * A host's facts, every one a string: literal text escaped for Terraform's templates, a token left for cdktf to
 * resolve into its Terraform expression (`${var.address}`), so the host entry's local carries the reference.
 */
export function hostFacts(host: Host, policyKey: string, wave?: string, style: FactsStyle = {}): Omit<HostEntry, "generation"> {
  const literal = style.literal ?? terraformLiteral;
  const text = (value: string) => (Token.isUnresolved(value) ? value : literal(value));
  const b = host.bastion;
  const sudo = host.sudoFollowsUser
    ? Token.asString(Fn.conditional(Op.neq(host.user, "root"), "1", "0"))
    : Token.isUnresolved(host.sudo)
      ? Token.asString(Fn.conditional(host.sudo, "1", "0"))
      : host.sudo ? "1" : "0";
  const hostKey = (key: string) => (Token.isUnresolved(key) ? Token.asString(Fn.trimspace(key)) : literal(key));
  return {
    name: style.name ?? host.name,
    address: host.address,
    port: numberText(host.port),
    user: host.user,
    private_key_path: text(host.privateKeyPath),
    host_key: hostKey(host.hostKey),
    bastion_host: b?.address ?? "",
    bastion_user: b?.user ?? "",
    bastion_port: b ? numberText(b.port) : "",
    bastion_private_key_path: text(b?.privateKeyPath ?? ""),
    bastion_host_key: hostKey(b?.hostKey ?? ""),
    sudo: sudo as HostEntry["sudo"],
    timeout: `${numberText(host.timeoutSeconds)}s`,
    policy: policyKey,
    ...(wave === undefined ? {} : { wave }),
  };
}

/** True when a fact of the host is a token: its generation is then computed by Terraform. */
export function hasTokens(facts: object): boolean {
  return Object.values(facts).some((v) => Token.isUnresolved(v));
}

/**
 * The generation of a host with tokens, computed by Terraform from the facts' values (not their expressions):
 * `substr(sha256(jsonencode(facts)), 0, 8)` over the facts in the local `factsLocal`. When a token's value
 * changes (a new instance address), the generation changes, so the host is replaced and converged again, as
 * when a literal fact changes.
 */
export function terraformGeneration(factsLocal: string, host: string): string {
  return `\${substr(sha256(jsonencode(local.${factsLocal}["${host}"])), 0, 8)}`;
}
