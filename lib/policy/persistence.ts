import { LoopbackPolicyError } from "./errors";
import { quoteValue } from "./quote";

/** How a host's verified ruleset is saved so that it survives a reboot. */
export type PersistenceMode = "auto" | "netfilter-persistent" | "rhel" | "files" | "none";

/** The fleet-file form of {@link Persistence}: a mode name, or explicit file paths. */
export type PersistenceInput = Persistence | Exclude<PersistenceMode, "files"> | { readonly v4Path: string; readonly v6Path?: string };

const SAFE_PATH = /^\/[A-Za-z0-9._/-]{1,200}$/;

/**
 * Where the verified ruleset is saved (seed 000: save only after the loopback test passed).
 *
 * - `Persistence.auto()` detects: netfilter-persistent's `/etc/iptables/rules.v4|v6` when `/etc/iptables` or
 *   `netfilter-persistent` exists, else RHEL's `/etc/sysconfig/iptables|ip6tables` when iptables-services is
 *   installed, else the report says the rules are not persisted.
 * - `Persistence.netfilterPersistent()`, `Persistence.rhel()`: those paths, always.
 * - `Persistence.files(v4, v6)`: explicit paths.
 * - `Persistence.none()`: live rules only.
 */
export class Persistence {
  /** Detect the distribution's method on each host. */
  public static auto(): Persistence {
    return new Persistence("auto", "", "");
  }

  /** Debian/Ubuntu iptables-persistent: `/etc/iptables/rules.v4` and `/etc/iptables/rules.v6`. */
  public static netfilterPersistent(): Persistence {
    return new Persistence("netfilter-persistent", "/etc/iptables/rules.v4", "/etc/iptables/rules.v6");
  }

  /** RHEL/CentOS/Fedora iptables-services: `/etc/sysconfig/iptables` and `/etc/sysconfig/ip6tables`. */
  public static rhel(): Persistence {
    return new Persistence("rhel", "/etc/sysconfig/iptables", "/etc/sysconfig/ip6tables");
  }

  /**
   * Explicit files, written with `iptables-save` / `ip6tables-save` output.
   * @param v4Path absolute path for the IPv4 ruleset
   * @param v6Path absolute path for the IPv6 ruleset
   * @default v6Path `${v4Path}` with a `.v6` suffix
   */
  public static files(v4Path: string, v6Path?: string, field = "persistence"): Persistence {
    const v6 = v6Path ?? `${v4Path}.v6`;
    for (const [name, p] of [["v4Path", v4Path], ["v6Path", v6]] as const) {
      if (typeof p !== "string" || !SAFE_PATH.test(p) || p.split("/").includes("..")) {
        throw new LoopbackPolicyError(
          `${field}.${name}`,
          `${quoteValue(p)} is not a usable absolute path`,
          "use an absolute path of letters, digits, '.', '_', '-' and '/' (no spaces, quotes or '..'), e.g. /etc/iptables/rules.v4",
        );
      }
    }
    if (v4Path === v6) {
      throw new LoopbackPolicyError(`${field}.v6Path`, "IPv4 and IPv6 rules would overwrite one file", "give v6Path a different path");
    }
    return new Persistence("files", v4Path, v6);
  }

  /** Do not persist: rules are live only and are lost at reboot. */
  public static none(): Persistence {
    return new Persistence("none", "", "");
  }

  /** Accepts a {@link Persistence}, a mode name, or `{ v4Path, v6Path }` from a fleet file. */
  public static from(input: PersistenceInput | undefined, field = "persistence"): Persistence {
    if (input === undefined) return Persistence.auto();
    if (input instanceof Persistence) return input;
    if (typeof input === "object" && input !== null) {
      return Persistence.files((input as { v4Path: string }).v4Path, (input as { v6Path?: string }).v6Path, field);
    }
    switch (input) {
      case "auto":
        return Persistence.auto();
      case "netfilter-persistent":
        return Persistence.netfilterPersistent();
      case "rhel":
        return Persistence.rhel();
      case "none":
        return Persistence.none();
      default:
        throw new LoopbackPolicyError(
          field,
          `unknown persistence ${quoteValue(input)}`,
          'use "auto", "netfilter-persistent", "rhel", "none" or { "v4Path": "...", "v6Path": "..." }',
        );
    }
  }

  private constructor(
    /** The method. */
    public readonly mode: PersistenceMode,
    /** IPv4 file, empty for `auto` and `none`. */
    public readonly v4Path: string,
    /** IPv6 file, empty for `auto` and `none`. */
    public readonly v6Path: string,
  ) {}

  /** `auto`, `none`, or `rhel: /etc/sysconfig/iptables, /etc/sysconfig/ip6tables`. */
  public toString(): string {
    return this.v4Path ? `${this.mode}: ${this.v4Path}, ${this.v6Path}` : this.mode;
  }
}
