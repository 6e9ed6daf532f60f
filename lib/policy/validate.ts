import { isIPv4, isIPv6 } from "net";
import { LoopbackPolicyError } from "./errors";
import { isPlainKey, quoteValue } from "./quote";
import { BastionSpec, ConnectionSpec, FleetSpec, HostSpec } from "./fleet";
import { Bastion, DeferredCheck, Fleet, Host, HostFact } from "./model";
import { AntiSpoofing, DropAction, EnforceMode, Ipv6Mode, OtherFirewall, Policy, PolicyOptions, VerifyMode } from "./options";
import { Persistence, persistenceFrom } from "./persistence";
import { LocalPort } from "./port";

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** A host set's name is part of a Terraform resource name: no dots, a letter first. */
const SET_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;
const KEY_BASE64 = /^[A-Za-z0-9+/]+={0,3}$/;
/**
 * Host key types in the order Terraform's SSH client (Go's golang.org/x/crypto/ssh, `supportedHostKeyAlgos` /
 * `preferredHostKeyAlgos`) negotiates them when the server has several: ECDSA first, then RSA (rsa-sha2-256,
 * rsa-sha2-512, ssh-rsa, all with an `ssh-rsa` key), DSA, and ssh-ed25519 last. Terraform sets no
 * HostKeyAlgorithms and writes the single `host_key` into a known_hosts file, so only the key of the negotiated
 * type matches (hashicorp/terraform#18940).
 */
const NEGOTIATION_ORDER = ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa", "ssh-dss", "ssh-ed25519"];
const LOG_PREFIX = /^[A-Za-z0-9._:-]{1,15}$/;
// Anything Terraform or a shell could treat as more than text is refused in free-form paths.
const KEY_PATH = /^[A-Za-z0-9~._/+@-][A-Za-z0-9._/+@ -]{0,1023}$/;

const POLICY_FIELDS: ReadonlyArray<keyof PolicyOptions> = [
  "ipv6", "antiSpoofing", "localOnlyPorts", "localOnlyAction", "allowEstablished", "logDrops", "persistence",
  "otherFirewall", "verify", "rollbackSeconds", "lockWaitSeconds", "enforce",
];
const CONNECTION_FIELDS: ReadonlyArray<keyof ConnectionSpec> = [
  "user", "port", "privateKeyPath", "hostKey", "bastion", "sudo", "timeoutSeconds",
];
const HOST_FIELDS: readonly string[] = ["name", "address", "policy", "labels", ...CONNECTION_FIELDS];
const LABEL = /^[A-Za-z0-9._:/-]{1,63}$/;
const BASTION_FIELDS: ReadonlyArray<keyof BastionSpec> = ["address", "user", "port", "privateKeyPath", "hostKey"];
const FLEET_FIELDS: readonly string[] = ["hosts", "connection", ...POLICY_FIELDS];

/** The policy every field of which is left at its default. */
export const DEFAULT_POLICY: Policy = {
  ipv6: "auto",
  antiSpoofing: "drop",
  localOnlyPorts: [],
  localOnlyAction: "drop",
  allowEstablished: false,
  persistence: Persistence.auto(),
  otherFirewall: "fail",
  verify: "auto",
  rollbackSeconds: 30,
  lockWaitSeconds: 30,
  enforce: "on-change",
};

/** How {@link validateFleet} treats values it cannot see yet. */
export interface ValidateOptions {
  /**
   * True for a value that is not known until Terraform plans or applies (a cdktf token: the construct layer
   * passes cdktf's `Token.isUnresolved`; this layer does not import cdktf). Such a value in a host connection
   * field is not checked here: the check is recorded in the host's `deferred` for Terraform to run.
   * @default nothing is unresolved
   */
  readonly isUnresolved?: (value: unknown) => boolean;
  /**
   * Host sets: hosts Terraform expands from a collection (the construct layer's `hostSets`, given here without
   * their collection). Each is validated as one host whose `name` is the set's; its hosts' names (the
   * collection's keys) are checked by Terraform.
   * @default none
   */
  readonly hostSets?: readonly HostSpec[];
}

// The predicate and the checks deferred for the host being resolved, set for the duration of one validateFleet.
let unresolved: (value: unknown) => boolean = () => false;
let deferred: DeferredCheck[] = [];

/** Record a check for Terraform when `value` is unresolved; true when it was recorded (or, without kind, only unresolved). */
function defer(value: unknown, check: Omit<DeferredCheck, "problem" | "fix"> & { problem: string; fix: string }): boolean {
  if (!unresolved(value)) return false;
  deferred.push(check);
  return true;
}

/**
 * Validate a fleet and resolve every default. Throws {@link LoopbackPolicyError} naming the field and the fix
 * on the first bad value; returns only when everything is usable.
 * @param extraFields fields of the props object that belong to a layer above (for example `resourceType`)
 * @param options how unresolved values (tokens) are told apart; without it every value is literal
 */
export function validateFleet(spec: FleetSpec, extraFields: readonly string[] = [], options: ValidateOptions = {}): Fleet {
  const before = unresolved;
  unresolved = options.isUnresolved ?? (() => false);
  try {
    return validateLiteralOrDeferred(spec, extraFields, options);
  } finally {
    unresolved = before;
    deferred = [];
  }
}

function validateLiteralOrDeferred(spec: FleetSpec, extraFields: readonly string[], options: ValidateOptions): Fleet {
  if (spec === null || typeof spec !== "object") {
    throw new LoopbackPolicyError("props", "missing", "pass an object with at least `hosts`");
  }
  checkKnownFields(spec, [...FLEET_FIELDS, ...extraFields], "props");
  const fleetPolicy = resolvePolicy(pickPolicy(spec), DEFAULT_POLICY, "props");
  const defaults = spec.connection ?? {};
  checkObject(defaults, "connection");
  checkKnownFields(defaults, CONNECTION_FIELDS, "connection");

  const setSpecs = options.hostSets ?? [];
  const given = spec.hosts ?? [];
  if (!Array.isArray(given)) {
    throw new LoopbackPolicyError("hosts", `${quoteValue(given)} is not a list`, "list the hosts: [{ name: \"web-1\", address: \"192.0.2.10\" }]");
  }
  if (given.length === 0 && setSpecs.length === 0) {
    throw new LoopbackPolicyError("hosts", "the fleet is empty", "list at least one host: [{ name: \"web-1\", address: \"192.0.2.10\" }], or give hostSets that Terraform expands");
  }
  const seen = new Map<string, number>();
  const hosts = given.map((h, i) => {
    const host = resolveHost(h, defaults, fleetPolicy, `hosts[${i}]`);
    const key = host.name.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      throw new LoopbackPolicyError(
        `hosts[${i}].name`,
        `"${host.name}" is already the name of hosts[${first}] (names are compared without case)`,
        "give every host a unique name; it is the host's Terraform resource key",
      );
    }
    seen.set(key, i);
    return host;
  });
  // One machine (address and SSH port) under two names: two resources would remove each other's rules.
  const machines = new Map<string, number>();
  hosts.forEach((host, i) => {
    if (unresolved(host.address) || unresolved(host.port)) return;
    const target = `${host.address.toLowerCase().replace(/\.$/, "")}:${host.port}`;
    const first = machines.get(target);
    if (first !== undefined) {
      throw new LoopbackPolicyError(
        `hosts[${i}].address`,
        `${quoteValue(host.address)} (port ${host.port}) is already the address of hosts[${first}] (${quoteValue(hosts[first].name)}): two hosts on one machine would each remove the other's rules`,
        "list each machine once (give it one name), or give the right address",
      );
    }
    machines.set(target, i);
  });
  const setSeen = new Map<string, number>();
  const sets = setSpecs.map((h, i) => {
    const field = `hostSets[${i}]`;
    checkObject(h, field);
    if (unresolved(h.name) || typeof h.name !== "string" || !SET_NAME.test(h.name)) {
      throw new LoopbackPolicyError(
        `${field}.name`,
        unresolved(h.name) ? "is a token, but a host set's name is part of its resource's name, which must be known when the stack is synthesized" : `${quoteValue(h.name)} is not a usable host set name`,
        "use 1-63 letters, digits, '_' or '-', starting with a letter (the set's resource is <type>.<id>_<name>; its hosts are named by the keys Terraform expands)",
      );
    }
    const first = setSeen.get(h.name.toLowerCase());
    if (first !== undefined) {
      throw new LoopbackPolicyError(`${field}.name`, `"${h.name}" is already the name of hostSets[${first}] (names are compared without case)`, "give every host set a unique name");
    }
    setSeen.set(h.name.toLowerCase(), i);
    return resolveHost(h, defaults, fleetPolicy, field);
  });
  return {
    hosts: checkSshPorts(spec, given, hosts, "hosts"),
    ...(sets.length > 0 ? { sets: checkSshPorts(spec, setSpecs, sets, "hostSets") } : {}),
  };
}

/**
 * A local-only TCP port that covers the port SSH reaches a host on would make the deploy drop every SSH
 * connection to it but lo's, the deploy's own confirming connection included (the rollback guard would bring
 * the old rules back, but with `rollbackSeconds: 0`, or once persisted by hand, the host is cut off). The same
 * holds for a host that is another host's bastion: its local-only ports must leave the bastion port open.
 */
function checkSshPorts(spec: FleetSpec, specs: readonly HostSpec[], hosts: readonly Host[], list: "hosts" | "hostSets"): Host[] {
  return hosts.map((host, i) => {
    const uses: Array<{ port: number; why: string; of?: string; fact: HostFact; portField: string }> = [
      { port: host.port, why: "", fact: "port", portField: `${list}[${i}].port` },
    ];
    hosts.forEach((other, j) => {
      // A token address cannot be compared before Terraform resolves it: such a bastion is not matched here.
      if (other.bastion && !unresolved(other.bastion.address) && !unresolved(host.address) && sameAddress(other.bastion.address, host.address)) {
        uses.push({ port: other.bastion.port, why: ` as the bastion of hosts[${j}] (${quoteValue(other.name)})`, of: other.name, fact: "bastion.port", portField: `hosts[${j}].bastion.port` });
      }
    });
    const later: DeferredCheck[] = [];
    for (const use of uses) {
      if (unresolved(use.port)) {
        const tcp = host.policy.localOnlyPorts.filter((p) => p.protocol === "tcp");
        if (tcp.length === 0) continue;
        const own = specs[i].policy?.localOnlyPorts !== undefined;
        later.push({
          field: own ? `${list}[${i}].policy.localOnlyPorts` : "localOnlyPorts",
          kind: "sshPort",
          fact: use.fact,
          ...(use.of === undefined ? {} : { of: use.of }),
          ranges: tcp.map((p) => [p.fromPort, p.toPort] as const),
          problem: `it covers the port SSH reaches ${list}[${i}] (${quoteValue(host.name)}) on${use.why} (${use.portField}, known at plan time), so the deploy would cut SSH to it from everywhere but lo`,
          fix: "remove that port from localOnlyPorts or split the range to leave it out, or make the host reachable over another SSH port (port)",
        });
        continue;
      }
      const cut = host.policy.localOnlyPorts.find((p) => p.protocol === "tcp" && p.fromPort <= use.port && use.port <= p.toPort);
      if (cut === undefined) continue;
      const field = localPortField(spec, specs[i], `${list}[${i}]`, cut);
      const narrower = [cut.fromPort < use.port ? `"tcp/${cut.fromPort}-${use.port - 1}"` : "", use.port < cut.toPort ? `"tcp/${use.port + 1}-${cut.toPort}"` : ""].filter(Boolean);
      throw new LoopbackPolicyError(
        field,
        `"${cut}" covers port ${use.port}, which SSH reaches ${list}[${i}] (${quoteValue(host.name)}) on${use.why}, so the deploy would cut SSH to it from everywhere but lo`,
        `SSH to this host uses port ${use.port}${use.why ? use.why.replace(/^ as/, ", as") : ""}; remove it from localOnlyPorts${cut.isRange ? ` or split the range to leave ${use.port} out (${narrower.join(" and ")})` : ""}, or make the host reachable over another SSH port (port)`,
      );
    }
    return later.length === 0 ? host : { ...host, deferred: [...(host.deferred ?? []), ...later] };
  });
}

/** The field a host's local-only port came from: its own policy's list, or the fleet's. */
function localPortField(spec: FleetSpec, host: HostSpec, field: string, port: LocalPort): string {
  const own = host.policy?.localOnlyPorts;
  const [list, at] = own !== undefined ? [own, `${field}.policy.localOnlyPorts`] : [spec.localOnlyPorts ?? [], "localOnlyPorts"];
  const index = list.findIndex((p) => (p instanceof LocalPort ? p : LocalPort.parse(String(p))).toString() === port.toString());
  return index < 0 ? at : `${at}[${index}]`;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, "") === b.toLowerCase().replace(/\.$/, "");
}

/** Merge `options` over `base`, validating every field given. `field` prefixes error paths. */
export function resolvePolicy(options: PolicyOptions, base: Policy, field: string): Policy {
  checkObject(options, field);
  checkKnownFields(options, POLICY_FIELDS, field);
  const at = (name: string) => (field === "props" ? name : `${field}.${name}`);
  const ports =
    options.localOnlyPorts === undefined
      ? base.localOnlyPorts
      : checkArray(options.localOnlyPorts, at("localOnlyPorts")).map((p, i) =>
          p instanceof LocalPort ? p : LocalPort.parse(p as string, `${at("localOnlyPorts")}[${i}]`),
        );
  const log = resolveLog(options.logDrops, base.log, at("logDrops"));
  return {
    ipv6: oneOf<Ipv6Mode>(options.ipv6, ["auto", "required", "off"], base.ipv6, at("ipv6")),
    antiSpoofing: oneOf<AntiSpoofing>(options.antiSpoofing, ["drop", "reject", "off"], base.antiSpoofing, at("antiSpoofing")),
    localOnlyPorts: dedupePorts(ports),
    localOnlyAction: oneOf<DropAction>(options.localOnlyAction, ["drop", "reject"], base.localOnlyAction, at("localOnlyAction")),
    allowEstablished: bool(options.allowEstablished, base.allowEstablished, at("allowEstablished")),
    ...(log ? { log } : {}),
    persistence: options.persistence === undefined ? base.persistence : persistenceFrom(options.persistence, at("persistence")),
    otherFirewall: oneOf<OtherFirewall>(options.otherFirewall, ["fail", "skip", "ignore", "manage"], base.otherFirewall, at("otherFirewall")),
    verify: oneOf<VerifyMode>(options.verify, ["auto", "tcp", "icmp", "off"], base.verify, at("verify")),
    rollbackSeconds: int(options.rollbackSeconds, base.rollbackSeconds, 0, 3600, at("rollbackSeconds")),
    lockWaitSeconds: int(options.lockWaitSeconds, base.lockWaitSeconds, 1, 600, at("lockWaitSeconds")),
    enforce: oneOf<EnforceMode>(options.enforce, ["on-change", "every-apply"], base.enforce, at("enforce")),
  };
}

function resolveHost(h: HostSpec, defaults: ConnectionSpec, fleetPolicy: Policy, field: string): Host {
  checkObject(h, field);
  checkKnownFields(h, HOST_FIELDS, field);
  deferred = [];
  if (unresolved(h.name)) {
    throw new LoopbackPolicyError(
      `${field}.name`,
      "is a token (a value Terraform knows only at plan or apply time), but a host's name is its resource key (`...[\"web-1\"]`), which must be known when the stack is synthesized",
      "give a literal name (for example the Terraform key of the instance it stands for); tokens are fine in address, port, user and the other connection fields",
    );
  }
  if (typeof h.name !== "string" || !HOST_NAME.test(h.name)) {
    throw new LoopbackPolicyError(
      `${field}.name`,
      `${quoteValue(h.name)} is not a usable host name`,
      "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (it becomes the resource key)",
    );
  }
  const f = `${field}`;
  const address = checkAddress(h.address, `${f}.address`, "address");
  const userField = h.user !== undefined ? `${f}.user` : "connection.user";
  const user = checkUser(h.user ?? defaults.user ?? "root", userField, "user");
  const port = int(h.port ?? defaults.port, 22, 1, 65535, h.port !== undefined ? `${f}.port` : "connection.port", "port");
  const keyField = h.privateKeyPath !== undefined ? `${f}.privateKeyPath` : "connection.privateKeyPath";
  const privateKeyPath = checkKeyPath(h.privateKeyPath ?? defaults.privateKeyPath, keyField, "privateKeyPath");
  const hostKey = checkHostKey(h.hostKey ?? defaults.hostKey, h.hostKey !== undefined ? `${f}.hostKey` : "connection.hostKey", address, port, "hostKey");
  const sudoField = h.sudo !== undefined ? `${f}.sudo` : "connection.sudo";
  const sudoGiven = h.sudo ?? defaults.sudo;
  // A token user without sudo given: sudo follows the user Terraform resolves (on unless it is root).
  const sudoFollowsUser = unresolved(user) && sudoGiven === undefined;
  const sudo = unresolved(sudoGiven) ? (sudoGiven as boolean) : bool(sudoGiven, sudoFollowsUser || user !== "root", sudoField);
  if (unresolved(user) || unresolved(sudo)) {
    if (!sudoFollowsUser && sudo !== true && !(user === "root")) {
      deferred.push({
        field: sudoField,
        kind: "rootNeedsSudo",
        fact: "sudo",
        problem: `the user (${userField}) is not root and sudo is off, so iptables cannot be changed`,
        fix: "set sudo: true (passwordless sudo) or connect as root",
      });
    }
  } else if (user !== "root" && !sudo) {
    throw new LoopbackPolicyError(sudoField, `user "${user}" is not root and sudo is off, so iptables cannot be changed`, "set sudo: true (passwordless sudo) or connect as root");
  }
  const timeoutField = h.timeoutSeconds !== undefined ? `${f}.timeoutSeconds` : "connection.timeoutSeconds";
  const timeoutSeconds = int(h.timeoutSeconds ?? defaults.timeoutSeconds, 300, 1, 3600, timeoutField, "timeoutSeconds");
  const bastionSpec = h.bastion ?? defaults.bastion;
  const bastion = bastionSpec === undefined
    ? undefined
    : resolveBastion(bastionSpec, { user, privateKeyPath }, h.bastion !== undefined ? `${f}.bastion` : "connection.bastion");
  const policy = h.policy === undefined ? fleetPolicy : resolvePolicy(h.policy, fleetPolicy, `${f}.policy`);
  if (unresolved(timeoutSeconds)) {
    if (policy.rollbackSeconds > 0) {
      deferred.push({
        field: timeoutField,
        kind: "timeoutAboveRollback",
        fact: "timeoutSeconds",
        min: policy.rollbackSeconds,
        problem: `the connection timeout is not longer than the rollback guard (${policy.rollbackSeconds}s), so a rolled-back change would be reported as a timeout`,
        fix: `set timeoutSeconds above ${policy.rollbackSeconds} or lower rollbackSeconds`,
      });
    }
  } else if (policy.rollbackSeconds > 0 && timeoutSeconds <= policy.rollbackSeconds) {
    throw new LoopbackPolicyError(
      timeoutField,
      `the connection timeout (${timeoutSeconds}s) is not longer than the rollback guard (${policy.rollbackSeconds}s), so a rolled-back change would be reported as a timeout`,
      `set timeoutSeconds above ${policy.rollbackSeconds} or lower rollbackSeconds`,
    );
  }
  const labels = checkLabels(h.labels, `${f}.labels`);
  const checks = deferred;
  deferred = [];
  return {
    name: h.name, address, user, port, privateKeyPath, hostKey, ...(bastion ? { bastion } : {}), sudo, timeoutSeconds, policy, labels,
    ...(checks.length > 0 ? { deferred: checks } : {}),
    ...(sudoFollowsUser ? { sudoFollowsUser } : {}),
  };
}

function resolveBastion(b: BastionSpec, host: { user: string; privateKeyPath: string }, field: string): Bastion {
  checkObject(b, field);
  checkKnownFields(b, BASTION_FIELDS, field);
  const address = checkAddress(b.address, `${field}.address`, "bastion.address");
  // The host's user is checked already (and, as a token, checked by Terraform under its own field).
  const user = b.user === undefined ? host.user : checkUser(b.user, `${field}.user`, "bastion.user");
  const port = int(b.port, 22, 1, 65535, `${field}.port`, "bastion.port");
  return {
    address,
    user,
    port,
    privateKeyPath: b.privateKeyPath === undefined ? host.privateKeyPath : checkKeyPath(b.privateKeyPath, `${field}.privateKeyPath`, "bastion.privateKeyPath"),
    hostKey: checkHostKey(b.hostKey, `${field}.hostKey`, address, port, "bastion.hostKey"),
  };
}

function resolveLog(input: PolicyOptions["logDrops"], base: Policy["log"], field: string): Policy["log"] {
  if (input === undefined) return base;
  if (input === false) return undefined;
  if (input === true) return { prefix: "lbp-drop", perMinute: 5 };
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new LoopbackPolicyError(field, `${quoteValue(input)} is not a logging setting`, 'use true, false or { "prefix": "lbp-drop", "perMinute": 5 }');
  }
  checkKnownFields(input, ["prefix", "perMinute"], field);
  const prefix = input.prefix ?? "lbp-drop";
  if (typeof prefix !== "string" || !LOG_PREFIX.test(prefix)) {
    throw new LoopbackPolicyError(`${field}.prefix`, `${quoteValue(prefix)} is not a usable log prefix`, "use 1-15 letters, digits, '.', '_', ':' or '-' (the kernel keeps 29 characters and each rule appends its id)");
  }
  if (/lbp:/i.test(prefix)) {
    throw new LoopbackPolicyError(
      `${field}.prefix`,
      `${quoteValue(prefix)} holds "lbp:", the start of the tags that mark managed rules (a log rule carrying another generation's tag in its prefix would be read as that generation's rule)`,
      'use a prefix without "lbp:", e.g. "lbp-drop" (the default)',
    );
  }
  return { prefix, perMinute: int(input.perMinute, 5, 1, 10000, `${field}.perMinute`) };
}

function pickPolicy(spec: FleetSpec): PolicyOptions {
  const out: Record<string, unknown> = {};
  for (const k of POLICY_FIELDS) if (spec[k] !== undefined) out[k] = spec[k];
  return out as PolicyOptions;
}

function dedupePorts(ports: readonly LocalPort[]): LocalPort[] {
  const byText = new Map<string, LocalPort>();
  for (const p of ports) byText.set(p.toString(), p);
  return [...byText.values()];
}

function checkAddress(value: unknown, field: string, fact: HostFact): string {
  const fix = 'use e.g. "192.0.2.10", "2001:db8::10" or "web-1.example.com"';
  if (defer(value, { field, kind: "address", fact, problem: "is not an IPv4/IPv6 host address or DNS name (networks, multicast, broadcast, unspecified, link-local and zone ids are refused)", fix })) {
    return value as string;
  }
  if (typeof value !== "string" || value.length === 0) {
    throw new LoopbackPolicyError(field, "missing", 'give the IPv4/IPv6 address or DNS name SSH connects to, e.g. "192.0.2.10"');
  }
  if (isIPv4(value) || isIPv6(value)) return checkHostAddress(value, field);
  const slash = value.indexOf("/");
  if (slash > 0 && (isIPv4(value.slice(0, slash)) || isIPv6(value.slice(0, slash)))) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is a network, not a host address`, `did you mean ${quoteValue(value.slice(0, slash))}?`);
  }
  if (/^\[.*\]$/.test(value) && isIPv6(value.slice(1, -1))) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} has brackets`, `write the IPv6 address without brackets: ${quoteValue(value.slice(1, -1))}`);
  }
  const last = value.replace(/\.$/, "").split(".").pop() ?? "";
  if (!/^[0-9.]+$/.test(value) && /^(0x[0-9a-f]*|[0-9]+)$/i.test(last) && DNS_NAME.test(value)) {
    // A top-level label is never numeric; getaddrinfo (OpenSSH, Go's cgo resolver) reads inet_aton's forms.
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not a DNS name: its last label is a number, and getaddrinfo reads such names as IPv4 addresses in a legacy form ("0x7f.1" is 127.0.0.1)`, "write the address as four decimal numbers, e.g. \"192.0.2.10\", or give a DNS name");
  }
  if (/^[0-9.]+$/.test(value) || !DNS_NAME.test(value)) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not an IPv4/IPv6 address or DNS name`, 'use e.g. "192.0.2.10", "2001:db8::10" or "web-1.example.com"');
  }
  return value;
}

/**
 * An IP address that is not a unicast host address SSH can connect to: unspecified, broadcast, multicast,
 * "this network", or IPv6 link-local (which needs a zone id: `fe80::1%eth0`, and Terraform's SSH connection
 * takes no zone id). An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is checked as its IPv4 address.
 */
function checkHostAddress(value: string, field: string): string {
  const zone = value.indexOf("%");
  if (zone >= 0) {
    throw new LoopbackPolicyError(
      field,
      `${quoteValue(value)} has an IPv6 zone id (${quoteValue(value.slice(zone))}), which Terraform's SSH connection cannot use`,
      "zone ids don't work in Terraform's SSH connection (it takes the address as a host name); use the host's global or ULA address or a DNS name",
    );
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value);
  const v4 = isIPv4(value) ? value : mapped?.[1];
  const notHost = (what: string, fix = 'give the unicast address of the host itself, e.g. "192.0.2.10", or its DNS name') => {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is ${what}`, fix);
  };
  if (v4 !== undefined) {
    const [a, b, c, d] = v4.split(".").map(Number);
    if (a === 0) notHost(`not a host address (0.0.0.0/8 means "this network": ${v4 === "0.0.0.0" ? "any address of the machine that connects" : "never a destination"})`);
    if (a === 255 && b === 255 && c === 255 && d === 255) notHost("not a host address (the limited broadcast address)");
    if (a >= 224 && a <= 239) notHost("a multicast address, not a host address");
    if (a >= 240) notHost("not a host address (240.0.0.0/4 is reserved)");
    return value;
  }
  const words = expandIPv6(value);
  if (words.every((w) => w === 0)) notHost('not a host address (the unspecified address "::")');
  if ((words[0] & 0xff00) === 0xff00) notHost("an IPv6 multicast address, not a host address");
  if ((words[0] & 0xffc0) === 0xfe80) {
    notHost(
      "an IPv6 link-local address, which SSH can only reach with a zone id",
      "zone ids don't work in Terraform's SSH connection; use the host's global or ULA address or a DNS name",
    );
  }
  return value;
}

/** The eight 16-bit words of an IPv6 address (a valid one, without zone id). */
function expandIPv6(value: string): number[] {
  let text = value;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const words = (part: string | undefined) => (part ? part.split(":").map((w) => parseInt(w, 16)) : []);
  if (tail === undefined) return words(head);
  const h = words(head);
  const t = words(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function checkLabels(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  checkObject(value, field);
  for (const [k, v] of Object.entries(value as object)) {
    if (unresolved(k) || unresolved(v)) {
      throw new LoopbackPolicyError(
        unresolved(k) || !LABEL.test(k) ? field : `${field}.${k}`,
        "is a token (a value Terraform knows only at plan or apply time), but labels must be known when the stack is synthesized (they select rollout waves)",
        "give labels as literal text",
      );
    }
    if (!LABEL.test(k)) {
      // The key is not part of the field path: it could be anything, a pasted secret too.
      throw new LoopbackPolicyError(field, `label name ${quoteValue(k)} is not usable`, "use 1-63 letters, digits, '.', '_', ':', '/' or '-' for keys and values");
    }
    if (typeof v !== "string" || !LABEL.test(v)) {
      throw new LoopbackPolicyError(`${field}.${k}`, `label ${quoteValue(k)}: ${quoteValue(v)} is not usable`, "use 1-63 letters, digits, '.', '_', ':', '/' or '-' for keys and values");
    }
  }
  return { ...(value as Record<string, string>) };
}

function checkUser(value: unknown, field: string, fact?: HostFact): string {
  if (fact !== undefined && defer(value, { field, kind: "user", fact, problem: "is not a usable user name", fix: "use a Linux user name: lower-case letters, digits, '_', '.', '-', starting with a letter or '_'" })) {
    return value as string;
  }
  if (typeof value !== "string" || !USER.test(value)) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not a usable user name`, "use a Linux user name: lower-case letters, digits, '_', '.', '-', starting with a letter or '_'");
  }
  return value;
}

function checkKeyPath(value: unknown, field: string, fact: HostFact): string {
  if (value === undefined) return "";
  const fix = "give the path of the private key file (letters, digits, spaces and ._/+@-~; no '..'), or an empty string to use the SSH agent";
  if (defer(value, { field, kind: "keyPath", fact, problem: "is not a usable key file path", fix })) return value as string;
  if (typeof value !== "string" || !KEY_PATH.test(value) || value.split("/").includes("..")) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not a usable key file path`, "give the path of the private key file (letters, digits, spaces and ._/+@-~; no '..'), or leave it out to use the SSH agent");
  }
  return value;
}

/**
 * The host key to pin, from what the user gave: one key (`"type base64"`), the host's keys as `ssh-keyscan`
 * prints them (`host type base64` lines; `#` comments ignored), or a list of either. With several keys, the one
 * Terraform will negotiate ({@link NEGOTIATION_ORDER}). One key of another type than ECDSA, given alone as a
 * string, is refused: a stock sshd also has an ECDSA key, which Terraform would negotiate instead, failing the
 * deploy with "knownhosts: key mismatch". A list says it holds all the host's keys, so a list of one is pinned.
 */
function checkHostKey(value: unknown, field: string, address: string, port: number, fact: HostFact): string {
  if (value === undefined) return "";
  const target = unresolved(address) || unresolved(port) ? "HOST" : `${port === 22 ? "" : `-p ${port} `}${address}`;
  if (Array.isArray(value) ? unresolved(value) || value.some((v) => unresolved(v)) : false) {
    throw new LoopbackPolicyError(
      field,
      "is a list holding a token: which key Terraform's SSH client negotiates is chosen from the list when the stack is synthesized, so a list must be literal",
      "give the token as one string holding the host's ECDSA key (\"ecdsa-sha2-nistp256 AAAA...\", checked at plan time), or list the keys literally",
    );
  }
  if (defer(value, {
    field, kind: "hostKey", fact,
    problem: "is not one ECDSA host key in the \"type base64\" form (a host key from a token must be the host's ECDSA key, the type Terraform's SSH client negotiates first)",
    fix: `give the first two fields of /etc/ssh/ssh_host_ecdsa_key.pub (\`ssh-keyscan -t ecdsa ${target}\`), or an empty string to leave the key unpinned`,
  })) {
    return value as string;
  }
  const formFix = `use the "type base64" form without a comment (the first two fields of /etc/ssh/ssh_host_ecdsa_key.pub), or all of the host's keys as \`ssh-keyscan ${target}\` prints them`;
  const items: unknown[] = Array.isArray(value) ? value : [value];
  if (items.some((v) => typeof v !== "string")) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not an SSH public host key`, formFix);
  }
  const lines = (items as string[]).flatMap((v) => v.split(/\r?\n/)).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  if (lines.length === 0) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} holds no key`, formFix);
  }
  const keys = new Map<string, string>();
  const hosts = new Set<string>();
  for (const line of lines) {
    const t = line.split(/\s+/);
    if (t[0].startsWith("@")) {
      throw new LoopbackPolicyError(field, `${quoteValue(line)} has a known_hosts marker (${quoteValue(t[0])}), not a host key`, formFix);
    }
    const keyscan = t.length === 3 && !KEY_TYPE.test(t[0]) && KEY_TYPE.test(t[1]);
    const [type, base64] = keyscan ? t.slice(1) : t;
    if (!(keyscan || t.length === 2) || !KEY_TYPE.test(type) || !KEY_BASE64.test(base64)) {
      throw new LoopbackPolicyError(field, `${quoteValue(line)} is not an SSH public host key`, formFix);
    }
    if (type.startsWith("sk-")) {
      throw new LoopbackPolicyError(field, `${type} is not a host key type (security keys authenticate users; sshd never offers one, and Terraform would not accept it)`, formFix);
    }
    if (keyscan) hosts.add(t[0]);
    const before = keys.get(type);
    if (before !== undefined && before !== base64) {
      throw new LoopbackPolicyError(field, `it holds two different ${type} keys, and a host has one of each type`, `give the keys of this host only, as \`ssh-keyscan ${target}\` prints them`);
    }
    keys.set(type, base64);
  }
  if (hosts.size > 1) {
    throw new LoopbackPolicyError(field, `it holds keys of several hosts (${[...hosts].map((x) => quoteValue(x)).join(", ")})`, `give the keys of this host only, as \`ssh-keyscan ${target}\` prints them`);
  }
  const [type, base64] = [...keys].sort(([a], [b]) => NEGOTIATION_ORDER.indexOf(a) - NEGOTIATION_ORDER.indexOf(b))[0];
  if (!Array.isArray(value) && keys.size === 1 && !type.startsWith("ecdsa-")) {
    throw new LoopbackPolicyError(
      field,
      `one ${type} key alone is ambiguous: a stock sshd also has an ECDSA host key, and Terraform's SSH client (Go's x/crypto) negotiates ecdsa first, so this pin would fail the deploy with "knownhosts: key mismatch"`,
      `pin the host's ECDSA key (\`ssh-keyscan -t ecdsa ${target}\`), or give all of the host's keys: the output of \`ssh-keyscan ${target}\`, or a list of "type base64" strings (a list of one key says it is the only key the host has)`,
    );
  }
  return `${type} ${base64}`;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T, field: string): T {
  if (value === undefined) return fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new LoopbackPolicyError(field, `unknown value ${quoteValue(value)}`, `use one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
}

function bool(value: unknown, fallback: boolean, field: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value === "boolean") return value;
  throw new LoopbackPolicyError(field, `${quoteValue(value)} is not true or false`, "use true or false");
}

function int(value: unknown, fallback: number, min: number, max: number, field: string, fact?: HostFact): number {
  if (value === undefined) return fallback;
  if (fact !== undefined && defer(value, { field, kind: "int", fact, min, max, problem: "is not a whole number from " + min + " to " + max, fix: `use a whole number from ${min} to ${max}` })) {
    return value as number;
  }
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not a whole number`, `use a whole number from ${min} to ${max}, without quotes`);
  }
  if (value < min || value > max) {
    throw new LoopbackPolicyError(field, `${value} is out of range`, `use a whole number from ${min} to ${max}`);
  }
  return value;
}

function checkObject(value: unknown, field: string): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not an object`, "pass an object ({ ... })");
  }
}

function checkArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new LoopbackPolicyError(field, `${quoteValue(value)} is not a list`, 'pass a list, e.g. ["tcp/8080"]');
  }
  return value;
}

function checkKnownFields(obj: object, known: readonly string[], field: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      const plain = isPlainKey(key);
      const at = !plain ? field : field === "props" ? key : `${field}.${key}`;
      throw new LoopbackPolicyError(at, plain ? "unknown field" : `unknown field ${quoteValue(key)}`, near ? `did you mean "${near}"?` : `remove it; known fields are ${known.join(", ")}`);
    }
  }
}
