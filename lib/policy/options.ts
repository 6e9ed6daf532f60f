import { LocalPort } from "./port";
import { Persistence, PersistenceInput } from "./persistence";

/** What to do about IPv6 (seed 000: "use the matching ip6tables commands when the host has an IPv6 ruleset"). */
export type Ipv6Mode = "auto" | "required" | "off";
/** What happens to packets from 127.0.0.0/8 or ::1 that arrive on an interface other than lo (seeds 001, 002). */
export type AntiSpoofing = "drop" | "reject" | "off";
/** What happens to packets for a local-only port that do not arrive over lo (seed 004). */
export type DropAction = "drop" | "reject";
/** What to do when ufw, firewalld or a native nftables ruleset is in charge of the host (seed 002). */
export type OtherFirewall = "fail" | "skip" | "ignore" | "manage";
/** How the host proves loopback works before anything is persisted (seed 000). */
export type VerifyMode = "auto" | "tcp" | "icmp" | "off";
/** When Terraform runs the host script: only when the host's entry changes, or on every apply too. */
export type EnforceMode = "on-change" | "every-apply";

/** Rate-limited LOG rules placed immediately before the drops they explain (seed 003). */
export interface LogOptions {
  /**
   * Log prefix; each rule appends its own id, e.g. `lbp-drop spoof: `.
   * @default "lbp-drop"
   */
  readonly prefix?: string;
  /**
   * Log at most this many packets per minute per rule (`-m limit --limit N/min`).
   * @default 5
   */
  readonly perMinute?: number;
}

/** The policy itself. Every field can be set fleet-wide and overridden per host. */
export interface PolicyOptions {
  /**
   * IPv6 parity. `auto`: apply with ip6tables when it exists and IPv6 is on, and report what was skipped;
   * `required`: fail the host when it cannot; `off`: IPv4 only.
   * @default "auto"
   */
  readonly ipv6?: Ipv6Mode;
  /**
   * Drop (or reject, with `icmp-port-unreachable` / `icmp6-port-unreachable`) packets from 127.0.0.0/8 and ::1
   * that arrive on any interface but lo. Placed right below the lo ACCEPT, which is what the CIS audit reads.
   * @default "drop"
   */
  readonly antiSpoofing?: AntiSpoofing;
  /**
   * Ports only loopback clients may reach: `LocalPort.tcp(8080)` or `"tcp/9000-9100"`.
   * @default [] (none)
   */
  readonly localOnlyPorts?: Array<LocalPort | string>;
  /**
   * Drop or reject (TCP with `tcp-reset`, UDP with ICMP port unreachable) non-loopback packets to local-only ports.
   * @default "drop"
   */
  readonly localOnlyAction?: DropAction;
  /**
   * Also accept `ESTABLISHED,RELATED` packets (conntrack) in INPUT and OUTPUT, below the loopback rules.
   * @default false
   */
  readonly allowEstablished?: boolean;
  /**
   * Log dropped spoofed and local-only packets (rate-limited) before dropping them; `true` for the defaults.
   * @default false
   */
  readonly logDrops?: boolean | LogOptions;
  /**
   * Where the verified ruleset is saved.
   * @default Persistence.auto()
   */
  readonly persistence?: PersistenceInput;
  /**
   * When ufw, firewalld or a native nftables ruleset is in charge: `fail` the host with a message naming it,
   * `skip` it (succeed, change nothing, say so), `ignore` the manager and apply anyway, or `manage` the host
   * through the firewall in charge (the same policy in its own terms: ufw's user rules, an nftables table of
   * our own plus a lo accept in every filtering base chain, or firewalld's zones through `firewall-cmd`; a host
   * whose firewall cannot be managed safely fails, changing nothing). With nothing else in charge, every mode
   * uses iptables.
   * @default "fail"
   */
  readonly otherFirewall?: OtherFirewall;
  /**
   * How to prove loopback works before persisting: `tcp` (a real TCP connection over 127.0.0.1 and ::1 with
   * python3), `icmp` (ping), `auto` (tcp when python3 exists, else icmp), `off`. Counters of the lo rules must
   * rise in every mode but `off`.
   * @default "auto"
   */
  readonly verify?: VerifyMode;
  /**
   * Rollback guard: after applying, the host restores its previous rules unless a *new* SSH connection
   * confirms the change within this many seconds. `0` turns the guard off (not recommended).
   * @default 30
   */
  readonly rollbackSeconds?: number;
  /**
   * How long to wait for the xtables lock (`iptables-restore -w`) and for another deploy on the same host.
   * @default 30
   */
  readonly lockWaitSeconds?: number;
  /**
   * When the host script runs. `on-change`: when the host's entry (connection facts, policy) changes, so an
   * unchanged host costs nothing on `deploy`, and drift is found with `npm run check`. `every-apply`: also on
   * every apply, through a second resource (`<id>_enforce`) that is replaced each time: drift is repaired on
   * every deploy, at the cost of two SSH connections per such host per apply, and plans that always show
   * changes. Switching a host to `every-apply` changes its policy key, so its next apply re-runs it once.
   * @default "on-change"
   */
  readonly enforce?: EnforceMode;
}

/** A policy after validation: every field present, every value checked. */
export interface Policy {
  readonly ipv6: Ipv6Mode;
  readonly antiSpoofing: AntiSpoofing;
  readonly localOnlyPorts: readonly LocalPort[];
  readonly localOnlyAction: DropAction;
  readonly allowEstablished: boolean;
  /** Absent when logging is off. */
  readonly log?: { readonly prefix: string; readonly perMinute: number };
  readonly persistence: Persistence;
  readonly otherFirewall: OtherFirewall;
  readonly verify: VerifyMode;
  readonly rollbackSeconds: number;
  readonly lockWaitSeconds: number;
  readonly enforce: EnforceMode;
}
