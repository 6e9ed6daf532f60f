import { createHash } from "crypto";
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
  const b = host.bastion;
  const facts = {
    name: host.name,
    address: host.address,
    port: String(host.port),
    user: host.user,
    private_key_path: terraformLiteral(host.privateKeyPath),
    host_key: terraformLiteral(host.hostKey),
    bastion_host: b?.address ?? "",
    bastion_user: b?.user ?? "",
    bastion_port: b ? String(b.port) : "",
    bastion_private_key_path: terraformLiteral(b?.privateKeyPath ?? ""),
    bastion_host_key: terraformLiteral(b?.hostKey ?? ""),
    sudo: host.sudo ? ("1" as const) : ("0" as const),
    timeout: `${host.timeoutSeconds}s`,
    policy: policyKey,
    ...(wave === undefined ? {} : { wave }),
  };
  const generation = createHash("sha256").update(JSON.stringify(facts)).digest("hex").slice(0, 8);
  return { ...facts, generation };
}
