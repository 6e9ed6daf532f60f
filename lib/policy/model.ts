import { Policy } from "./options";

/** A fact of a host that a deferred check reads (a path into {@link Host}). */
export type HostFact =
  | "address" | "port" | "user" | "privateKeyPath" | "hostKey" | "timeoutSeconds" | "sudo"
  | "bastion.address" | "bastion.user" | "bastion.port" | "bastion.privateKeyPath" | "bastion.hostKey";

/**
 * A check that could not run at validation because the value is unresolved (a cdktf token, known only when
 * Terraform plans or applies): the construct layer turns it into a Terraform precondition with the same
 * field-naming message (`field: problem. Fix: fix`).
 */
export interface DeferredCheck {
  /** Where the value came from, as in the field of a LoopbackPolicyError. */
  readonly field: string;
  readonly kind: "address" | "user" | "keyPath" | "hostKey" | "int" | "rootNeedsSudo" | "sshPort" | "timeoutAboveRollback";
  /** The fact checked (for rootNeedsSudo: user and sudo). */
  readonly fact: HostFact;
  /** The host whose fact is read, when not the host the check is on (a bastion port of another host). */
  readonly of?: string;
  /** int: the range; timeoutAboveRollback: min is the rollback window. */
  readonly min?: number;
  readonly max?: number;
  /** sshPort: the local-only TCP ranges the port must stay out of. */
  readonly ranges?: ReadonlyArray<readonly [number, number]>;
  readonly problem: string;
  readonly fix: string;
}

/** A bastion after validation. */
export interface Bastion {
  readonly address: string;
  readonly user: string;
  readonly port: number;
  /** Empty when the SSH agent is used. */
  readonly privateKeyPath: string;
  /** Empty when not pinned. */
  readonly hostKey: string;
}

/** A host after validation: every connection fact resolved, its effective policy merged. */
export interface Host {
  readonly name: string;
  readonly address: string;
  readonly user: string;
  readonly port: number;
  /** Empty when the SSH agent is used. */
  readonly privateKeyPath: string;
  /** Empty when not pinned. */
  readonly hostKey: string;
  readonly bastion?: Bastion;
  readonly sudo: boolean;
  readonly timeoutSeconds: number;
  readonly policy: Policy;
  readonly labels: Readonly<Record<string, string>>;
  /** Checks left to Terraform because a value is a token; absent when every value is literal. */
  readonly deferred?: readonly DeferredCheck[];
  /** The user is a token and sudo was not given: sudo is on when the user Terraform resolves is not root. */
  readonly sudoFollowsUser?: boolean;
}

/** A validated fleet, hosts in the order given. */
export interface Fleet {
  readonly hosts: readonly Host[];
  /**
   * Host sets (hosts Terraform expands from a collection), each as one host named by the set: the facts and
   * policy every host of the set shares, tokens included. Absent when there are none.
   */
  readonly sets?: readonly Host[];
}
