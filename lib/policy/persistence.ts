import { LoopbackPolicyError } from "./errors";
import { quoteValue } from "./quote";

/** How a host's verified ruleset is saved so that it survives a reboot. */
export type PersistenceMode = "auto" | "netfilter-persistent" | "rhel" | "files" | "none";

/** Explicit files for the saved rulesets: the fleet-file form of {@link Persistence.files}. */
export interface PersistencePaths {
  /** Absolute path of the IPv4 ruleset, a file of its own under `/etc/` (or `/usr/local/etc/`). */
  readonly v4Path: string;
  /**
   * Absolute path of the IPv6 ruleset.
   * @default v4Path with a `.v6` suffix
   */
  readonly v6Path?: string;
}

/**
 * What the `persistence` field takes: a {@link Persistence}, a mode name (a string in jsii languages, checked when
 * the policy is validated), or {@link PersistencePaths}.
 */
export type PersistenceInput = Persistence | Exclude<PersistenceMode, "files"> | PersistencePaths;

const SAFE_PATH = /^\/[A-Za-z0-9._/-]{1,200}$/;
/** Where a ruleset may be saved: a configuration file, under /etc/ (or /usr/local/etc/), at any depth. */
const CONFIG_DIR = /^\/(usr\/local\/)?etc\/[^/]/;
/**
 * Files and directories under /etc that hold something else, some of it read as commands or as who may log in:
 * an iptables-save ruleset written over one breaks the host (or lets in, or locks out).
 */
const SYSTEM_FILES: ReadonlyArray<[RegExp, string]> = [
  [/\/\.ssh(\/|$)/, "SSH keys and authorized_keys live there"],
  [/^\/etc\/(passwd|shadow|group|gshadow|subuid|subgid)-?$/, "the user and group database"],
  [/^\/etc\/sudoers(\.d\/|$)/, "sudo's configuration"],
  [/^\/etc\/ssh\//, "sshd's configuration and host keys"],
  [/^\/etc\/(hosts|hostname|resolv\.conf|nsswitch\.conf|fstab|crypttab|environment|shells|login\.defs|securetty|inittab|rc\.local|machine-id|os-release|nftables\.conf)$/, "a system configuration file"],
  [/^\/etc\/(cron|anacrontab)/, "cron's configuration (run as commands)"],
  [/^\/etc\/(profile|bash|zsh|csh|skel\/)/, "shell start-up files (run as commands)"],
  [/^\/etc\/ld\.so\./, "the dynamic linker's configuration"],
  [/^\/etc\/(pam\.d|security|systemd|init\.d|init|rc[0-6S]\.d|udev|modprobe\.d|sysctl\.d|apt|yum\.repos\.d|dnf|ufw|firewalld|netns)\//, "a system configuration directory"],
];
/** Directories a path given without a file name would name. */
const KNOWN_DIRS = ["/etc/iptables", "/etc/sysconfig", "/etc/default", "/etc/network", "/usr/local/etc"];

/**
 * A persistence file must be a file of its own under /etc/ (or /usr/local/etc/): the engine runs as root and
 * replaces it with iptables-save output, so a path elsewhere (/proc, /sys, /dev, /boot, /usr, /run/loopback-policy,
 * the engine's own state, a home directory) or a system file under /etc would be destroyed.
 */
function checkRulesetPath(p: string, field: string, example: string): void {
  const fix = `give a file of its own under /etc/ for the saved rules, e.g. ${example} (or use Persistence.auto())`;
  if (p.endsWith("/") || p.split("/").pop() === "." || KNOWN_DIRS.includes(p.replace(/\/+$/, ""))) {
    throw new LoopbackPolicyError(field, `${quoteValue(p)} is a directory, not a file`, fix);
  }
  if (!CONFIG_DIR.test(p)) {
    throw new LoopbackPolicyError(field, `${quoteValue(p)} is not under /etc/, where a saved ruleset belongs (the engine replaces the file, as root)`, fix);
  }
  const system = SYSTEM_FILES.find(([pattern]) => pattern.test(p));
  if (system) {
    throw new LoopbackPolicyError(field, `${quoteValue(p)} is not a place for a ruleset: ${system[1]} (the engine would replace it with iptables-save output)`, fix);
  }
}

/**
 * Where the verified ruleset is saved (seed 000: save only after the loopback test passed).
 *
 * - `Persistence.auto()` detects: netfilter-persistent's `/etc/iptables/rules.v4|v6` when `/etc/iptables` or
 *   `netfilter-persistent` exists, else RHEL's `/etc/sysconfig/iptables|ip6tables` when iptables-services is
 *   installed, else the report says the rules are not persisted.
 * - `Persistence.netfilterPersistent()`, `Persistence.rhel()`: those paths, always.
 * - `Persistence.files(v4, v6)`: explicit paths, each a file of its own under `/etc/` (or `/usr/local/etc/`) that is
 *   not a system file (`/etc/shadow`, `/etc/ssh/...`, `/etc/cron*`, ... are refused).
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
   * Explicit files, written with `iptables-save` / `ip6tables-save` output. Each must be a file of its own under
   * `/etc/` (or `/usr/local/etc/`), not a directory and not a system file: the engine replaces it, as root.
   * @param v4Path absolute path for the IPv4 ruleset
   * @param v6Path absolute path for the IPv6 ruleset
   * @default v6Path `${v4Path}` with a `.v6` suffix
   */
  public static files(v4Path: string, v6Path?: string): Persistence {
    return Persistence._files(v4Path, v6Path, "persistence");
  }

  /** `files` with the field to name in errors (`hosts[2].policy.persistence`). @internal */
  public static _files(v4Path: string, v6Path: string | undefined, field: string): Persistence {
    const v6 = v6Path ?? `${v4Path}.v6`;
    for (const [name, p] of [["v4Path", v4Path], ["v6Path", v6]] as const) {
      if (typeof p !== "string" || !SAFE_PATH.test(p) || p.split("/").includes("..")) {
        throw new LoopbackPolicyError(
          `${field}.${name}`,
          `${quoteValue(p)} is not a usable absolute path`,
          "use an absolute path of letters, digits, '.', '_', '-' and '/' (no spaces, quotes or '..'), e.g. /etc/iptables/rules.v4",
        );
      }
      checkRulesetPath(p, `${field}.${name}`, name === "v4Path" ? "/etc/iptables/rules.v4" : "/etc/iptables/rules.v6");
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

/** Accepts a {@link Persistence}, a mode name, or `{ v4Path, v6Path }` from a fleet file; `field` names it in errors. */
export function persistenceFrom(input: PersistenceInput | undefined, field = "persistence"): Persistence {
  if (input === undefined) return Persistence.auto();
  if (input instanceof Persistence) return input;
  if (typeof input === "object" && input !== null) {
    return Persistence._files((input as { v4Path: string }).v4Path, (input as { v6Path?: string }).v6Path, field);
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
