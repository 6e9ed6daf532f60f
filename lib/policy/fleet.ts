import { PolicyOptions } from "./options";

/** A jump host the SSH connection goes through. */
export interface BastionSpec {
  /** Address or DNS name of the bastion. */
  readonly address: string;
  /**
   * SSH user on the bastion.
   * @default the host's user
   */
  readonly user?: string;
  /**
   * SSH port of the bastion.
   * @default 22
   */
  readonly port?: number;
  /**
   * Private key file for the bastion, read by Terraform's `file()` at apply time (never stored).
   * @default the host's key
   */
  readonly privateKeyPath?: string;
  /**
   * Pinned host key of the bastion, in the forms of {@link ConnectionSpec.hostKey}.
   * @default not pinned
   */
  readonly hostKey?: string | string[];
}

/**
 * How to reach hosts: fleet-wide defaults, each overridable per host.
 *
 * Every field here (and a host's `address`, and the bastion's fields) may be a token: a resource attribute, a
 * variable, a local (`Token.asString`/`Token.asNumber`/a variable's `booleanValue` for `sudo`). A literal value is
 * validated when the stack is synthesized; a token is checked by Terraform, in a `lifecycle.precondition` of the
 * hosts' resource with the same `field: problem. Fix: ...` message, before the host's provisioners run. A host key
 * from a token must be one ECDSA key ("ecdsa-sha2-nistp256 AAAA..."); an empty token value means "not pinned"
 * (`hostKey`) or "the SSH agent" (`privateKeyPath`).
 */
export interface ConnectionSpec {
  /**
   * SSH user. A user other than root needs `sudo`.
   * @default "root"
   */
  readonly user?: string;
  /**
   * SSH port.
   * @default 22
   */
  readonly port?: number;
  /**
   * Private key file. Synthesized as `file(pathexpand(...))` read through `self`, so key material is never
   * written to the Terraform JSON or state. Without it, the SSH agent is used.
   * @default SSH agent
   */
  readonly privateKeyPath?: string;
  /**
   * Pinned host key: Terraform refuses a host that presents another key. Give the host's keys as `ssh-keyscan
   * HOST` prints them (`host type base64` lines, `#` comments ignored), or a list of `"type base64"` strings (all
   * the keys the host has; a list of one says it is the only one), or one ECDSA key `"ecdsa-sha2-nistp256 AAAA..."`.
   * The key pinned is the one Terraform's SSH client negotiates: ECDSA, else RSA, else ed25519 (Go's x/crypto
   * order). One key of another type given alone as a string is refused: a stock sshd also has an ECDSA key, which
   * Terraform would negotiate, failing with "knownhosts: key mismatch".
   * @default not pinned
   */
  readonly hostKey?: string | string[];
  /**
   * Go through this bastion.
   * @default direct connection
   */
  readonly bastion?: BastionSpec;
  /**
   * Run the host script through `sudo -n` (passwordless sudo is required).
   * @default true when the user is not root
   */
  readonly sudo?: boolean;
  /**
   * How long Terraform keeps trying to connect. The rollback guard's confirming connection needs this to be
   * longer than `rollbackSeconds`, so that it reports a rollback instead of a timeout.
   * @default 300
   */
  readonly timeoutSeconds?: number;
}

/** One host of the fleet. */
export interface HostSpec extends ConnectionSpec {
  /**
   * Stable name: the Terraform resource key (`...["web-1"]`). Renaming a host re-runs its provisioners.
   * Letters, digits, `.`, `_`, `-`; at most 63 characters.
   * Must be literal (known when the stack is synthesized), not a token.
   */
  readonly name: string;
  /** IPv4 or IPv6 address, or DNS name, that SSH connects to. */
  readonly address: string;
  /**
   * Overrides of the fleet policy for this host only.
   * @default the fleet policy
   */
  readonly policy?: PolicyOptions;
  /**
   * Free-form labels (`{ "role": "db", "wave": "canary" }`): not used by the rules, carried for grouping.
   * Keys and values: letters, digits, '.', '_', ':', '/', '-'.
   * @default {}
   */
  readonly labels?: { [key: string]: string };
}

/** A fleet: hosts, connection defaults and the policy they share. */
export interface FleetSpec extends PolicyOptions {
  /**
   * The hosts, each named in the code. At least one, unless host sets (`hostSets` of LoopbackPolicyProps) give
   * the fleet hosts that Terraform expands.
   * @default none
   */
  readonly hosts?: Array<HostSpec>;
  /**
   * Connection defaults for every host.
   * @default root over port 22 with the SSH agent
   */
  readonly connection?: ConnectionSpec;
}
