import { Policy } from "../policy/options";
import { LocalPort, PortProtocol } from "../policy/port";
import { Family, multiportGroups } from "./rules";

/**
 * How one ufw rule looks in one family's file (`/etc/ufw/user.rules` or `user6.rules`) and in the kernel, exactly as
 * ufw 0.36 writes it (checked against the real ufw by __tests__/netns/ufw.test.ts).
 */
export interface UfwRendering {
  /** The `### tuple ###` line's text without the `comment=` part: `allow any any 0.0.0.0/0 any 0.0.0.0/0 in_lo`. */
  readonly tuple: string;
  /** The iptables lines ufw writes under the tuple, in its own spelling: `-A ufw-user-input -i lo -j ACCEPT`. */
  readonly lines: readonly string[];
  /** The rule's lines in ufw's input/output chains as `iptables-save` prints them (what the engine checks live). */
  readonly live: readonly string[];
}

/** One managed ufw rule: the command a person would type, and what it becomes in each family it applies to. */
export interface UfwRule {
  /** Stable id, in the rule's ufw comment tag `lbp:<generation>:<id>` (unique within a family). */
  readonly id: string;
  /** The command, with `<generation>` for the generation: `ufw allow in on lo comment 'lbp:<generation>:lo-in'`. */
  readonly command: string;
  readonly why: string;
  readonly ipv4?: UfwRendering;
  readonly ipv6?: UfwRendering;
}

/** The ufw rules of a policy, in order (the top of ufw's user rules), and what ufw itself already provides. */
export interface UfwPlan {
  readonly rules: readonly UfwRule[];
  /** Parts of the policy ufw expresses its own way, for reports. */
  readonly notes: readonly string[];
}

/** The log lines ufw writes for a rule with `log` (its own prefix and rate: the policy's cannot be expressed). */
const UFW_LOG = '-m conntrack --ctstate NEW -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW BLOCK] "';

/**
 * Turn a policy into its ufw rules, in CIS order: `allow in on lo`, `allow out on lo`, `deny in from 127.0.0.0/8`,
 * `deny in from ::1`, then per group of local-only ports `allow in on lo to any port P proto T` followed by
 * `deny in to any port P proto T` (the allow first: ufw's first match wins). With IPv6 off the commands name the
 * IPv4 any-address, which is how ufw writes a rule to user.rules only.
 */
export function planUfw(policy: Policy): UfwPlan {
  const v6 = policy.ipv6 !== "off";
  const rules: UfwRule[] = [];
  const families: Family[] = v6 ? ["ipv4", "ipv6"] : ["ipv4"];
  const tag = (id: string) => ` comment 'lbp:<generation>:${id}'`;

  rules.push({
    id: "lo-in",
    command: `ufw allow in on lo${v6 ? "" : " from 0.0.0.0/0"}${tag("lo-in")}`,
    why: "accept what arrives over loopback",
    ...both(families, (f) => rendering(f, "allow", "any", "any", "", "in_lo", "input", "-i lo", [])),
  });
  rules.push({
    id: "lo-out",
    command: `ufw allow out on lo${v6 ? "" : " to 0.0.0.0/0"}${tag("lo-out")}`,
    why: "accept what leaves over loopback",
    ...both(families, (f) => rendering(f, "allow", "any", "any", "", "out_lo", "output", "-o lo", [])),
  });

  const log = policy.log !== undefined;
  if (policy.antiSpoofing !== "off") {
    const action = policy.antiSpoofing === "drop" ? "deny" : "reject";
    const verb = `${action} in${log ? " log" : ""}`;
    rules.push({
      id: "spoof",
      command: `ufw ${verb} from 127.0.0.0/8${tag("spoof")}`,
      why: `${policy.antiSpoofing} 127.0.0.0/8 arriving off lo (anti-spoofing; lo is accepted above)`,
      ipv4: rendering("ipv4", action, "any", "any", "127.0.0.0/8", "in", "input", "", [], log),
    });
    if (v6) {
      rules.push({
        id: "spoof",
        command: `ufw ${verb} from ::1${tag("spoof")}`,
        why: `${policy.antiSpoofing} ::1 arriving off lo (anti-spoofing; lo is accepted above)`,
        ipv6: rendering("ipv6", action, "any", "any", "::1", "in", "input", "", [], log),
      });
    }
  }

  for (const proto of ["tcp", "udp"] as const) {
    multiportGroups(policy.localOnlyPorts.filter((p) => p.protocol === proto)).forEach((group, i) => {
      const id = `local-${proto}-${i + 1}`;
      const ports = group.map((p) => p.toIptables()).join(",");
      const list = group.map((p) => p.toString()).join(", ");
      const to = v6 ? "any" : "0.0.0.0/0";
      const match = portMatch(proto, group);
      rules.push({
        id: `${id}-lo`,
        command: `ufw allow in on lo to ${to} port ${ports} proto ${proto}${tag(`${id}-lo`)}`,
        why: `accept loopback clients of ${list} (local-only)`,
        ...both(families, (f) => rendering(f, "allow", proto, ports, "", "in_lo", "input", "-i lo", match)),
      });
      const action = policy.localOnlyAction === "drop" ? "deny" : "reject";
      rules.push({
        id,
        command: `ufw ${action} in${log ? " log" : ""} to ${to} port ${ports} proto ${proto}${tag(id)}`,
        why: `${policy.localOnlyAction} non-loopback packets to ${list} (local-only)`,
        ...both(families, (f) => rendering(f, action, proto, ports, "", "in", "input", "", match, log)),
      });
    });
  }

  const notes: string[] = [];
  if (policy.allowEstablished) {
    notes.push("established: ufw's before.rules accept RELATED,ESTABLISHED (ufw-before-input/output); ufw user rules cannot express conntrack states, so no rule is added");
  }
  if (log) {
    notes.push(`log: ufw's own rule logging ("[UFW BLOCK] ", 3/min, new connections); the policy's prefix "${policy.log!.prefix}" and ${policy.log!.perMinute}/min cannot be expressed in ufw`);
  }
  return { rules, notes };
}

function both(families: Family[], r: (f: Family) => UfwRendering): { ipv4?: UfwRendering; ipv6?: UfwRendering } {
  return Object.fromEntries(families.map((f) => [f, r(f)]));
}

/** The port match in ufw's spelling (`-p tcp --dport 22`, or multiport) and in iptables-save's (`-m tcp`). */
function portMatch(proto: PortProtocol, group: LocalPort[]): [string, string] {
  const ports = group.map((p) => p.toIptables()).join(",");
  if (group.length === 1 && !group[0].isRange) return [`-p ${proto} --dport ${ports}`, `-p ${proto} -m ${proto} --dport ${ports}`];
  return [`-p ${proto} -m multiport --dports ${ports}`, `-p ${proto} -m multiport --dports ${ports}`];
}

/**
 * One family's rendering, as ufw 0.36's backend writes it: tuple `action proto dport dst sport src direction`,
 * then `-A <prefix>-user-<chain> [iface] [-s src] [port match] -j TARGET` (with `log`: the logging-chain LOG and
 * RETURN, then a jump to it, before the rule itself).
 */
function rendering(
  family: Family, action: "allow" | "deny" | "reject", proto: string, dport: string, src: string, direction: string,
  chain: "input" | "output", iface: string, match: [string, string] | [], log = false,
): UfwRendering {
  const v6 = family === "ipv6";
  const any = v6 ? "::/0" : "0.0.0.0/0";
  const prefix = v6 ? "ufw6" : "ufw";
  const tuple = `${action}${log ? "_log" : ""} ${proto} ${dport} ${any} any ${src === "" ? any : src} ${direction}`;
  const head = `-A ${prefix}-user-${chain}`;
  const sel = (m: string) => [iface, src === "" ? "" : `-s ${src}`, m].filter((s) => s !== "").join(" ");
  const fileSel = sel(match[0] ?? "");
  const liveSel = sel(match[1] ?? "").replace(/-s ::1$|-s ::1 /, (s) => s.replace("::1", "::1/128"));
  const target = (spelling: "file" | "live") => {
    if (action === "allow") return "-j ACCEPT";
    if (action === "deny") return "-j DROP";
    if (proto === "tcp") return "-j REJECT --reject-with tcp-reset";
    return spelling === "file" ? "-j REJECT" : `-j REJECT --reject-with ${v6 ? "icmp6-port-unreachable" : "icmp-port-unreachable"}`;
  };
  const logChain = `${prefix}-user-logging-${chain}`;
  const lines = [
    ...(log ? [`-A ${logChain} ${fileSel} ${UFW_LOG}`, `-A ${logChain} ${fileSel} -j RETURN`, `${head} ${fileSel} -j ${logChain}`] : []),
    `${head} ${fileSel}${fileSel === "" ? "" : " "}${target("file")}`,
  ];
  const live = [
    ...(log ? [`${head} ${liveSel} -j ${logChain}`] : []),
    `${head} ${liveSel}${liveSel === "" ? "" : " "}${target("live")}`,
  ];
  return { tuple, lines, live };
}

/** The command for a generation: `ufw allow in on lo comment 'lbp:0badc0de:lo-in'`. */
export function ufwCommand(rule: UfwRule, generation = "<generation>"): string {
  return rule.command.replace("<generation>", generation);
}
