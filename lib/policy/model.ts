import { Policy } from "./options";

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
}

/** A validated fleet, hosts in the order given. */
export interface Fleet {
  readonly hosts: readonly Host[];
}
