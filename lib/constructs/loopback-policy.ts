import { Construct, IConstruct } from "constructs";
import { DataResource, dependable, Fn, IResolvable, ITerraformDependable, ITerraformIterator, TerraformDataSource, TerraformLocal, TerraformModule, TerraformOutput, TerraformResource, TerraformStack, Token } from "cdktf";
import { LoopbackPolicyError } from "../policy/errors";
import { FleetSpec } from "../policy/fleet";
import { Fleet, Host } from "../policy/model";
import { Policy } from "../policy/options";
import { validateFleet } from "../policy/validate";
import { RolloutSpec } from "../policy/rollout";
import { RulePlan, planRules, ruleCommand } from "../plan/rules";
import { planUfw } from "../plan/ufw";
import { firewalldCommands, planFirewalld } from "../plan/firewalld";
import { nftCommands, planNftables } from "../plan/nftables";
import { Wave, planWaves } from "../plan/waves";
import { engineScript } from "../render/engine";
import { hostFactsLine, hostScriptParts, ScriptMode } from "../render/host-script";
import { PolicyScript, renderPolicyScript } from "../render/policy-script";
import { HostEntry, hasTokens, hostEntry, hostFacts, terraformGeneration } from "./host-entries";
import { Precondition, preconditionsFor } from "./preconditions";
import { HostSetSpec, checkHostSets, hostSetComment, hostSetInput, hostSetPreconditions } from "./host-sets";
import { nullResource } from "./null-provider";
import { terraformLiteral } from "./terraform-text";
import { fixLocalHcl, fixOutputHcl, fixResourceHcl } from "./hcl-text";

/** The Terraform resource type that carries each host's provisioners. */
export type ResourceType = "null_resource" | "terraform_data";

/** Props of {@link LoopbackPolicy}: the fleet, its policy, and how it is synthesized. */
export interface LoopbackPolicyProps extends FleetSpec {
  /**
   * `null_resource` (through `@cdktf/provider-null`; Terraform downloads `hashicorp/null`) or `terraform_data`
   * (built into Terraform 1.4+, no provider download).
   * @default "null_resource"
   */
  readonly resourceType?: ResourceType;
  /**
   * Roll out in ordered waves (a canary, batches, or by label): one resource per wave
   * (`<type>.<id>_<wave>["host"]`), each depending on the one before, so a wave starts only when every host of
   * the previous wave converged and verified, and a failure stops the rollout there.
   * @default all hosts at once, in one resource `<type>.<id>`
   */
  readonly rollout?: RolloutSpec;
  /**
   * What the hosts need first (the instances, the security group that lets SSH in, a bastion): Terraform
   * `depends_on` of the first wave's resource. `policy.node.addDependency(x)` adds to it too.
   * @default no dependencies beyond the references in the host fields
   */
  readonly dependsOn?: ITerraformDependable[];
  /**
   * Hosts that Terraform expands from a collection (a `map(object)` variable, another resource's `for_each`):
   * one resource per set, `<type>.<id>_<set>["<key>"]`, with the set's policy and connection settings. With a
   * rollout, every set starts after the last wave.
   * @default none: only the hosts named in `hosts`
   */
  readonly hostSets?: HostSetSpec[];
}

/** A host set and the resource that carries its hosts. */
export interface HostSetResource {
  /** The set's name. */
  readonly name: string;
  /** Key of the set's policy script. */
  readonly policy: string;
  readonly resource: TerraformResource;
}

/** A wave of the rollout and the resource that carries it. */
export interface WaveResource extends Wave {
  readonly resource: TerraformResource;
}

/** A distinct policy of the fleet: what hosts sharing it get. */
export interface PolicyGroup {
  /** 12 hex digits: the key of the policy's script. */
  readonly key: string;
  readonly policy: Policy;
  readonly plan: RulePlan;
  readonly script: PolicyScript;
  /** Names of the hosts with this policy, in fleet order. */
  readonly hosts: string[];
  /** Names of the host sets with this policy, in order. */
  readonly hostSets: string[];
}

/**
 * Keeps loopback working and loopback spoofing blocked on a fleet of Linux hosts, with iptables and ip6tables.
 *
 * Synthesizes one resource with `for_each` over the hosts (addresses `terraform_data.<id>["web-1"]`), whose
 * provisioners run the host script over SSH: block one converges, verifies and arms a rollback; block two, on a
 * new connection, confirms and persists; a destroy-time block removes exactly the managed rules. The policy's
 * script is stored once per distinct policy in a local, not once per host.
 */
export class LoopbackPolicy extends Construct implements ITerraformDependable {
  /** The validated fleet (TypeScript and JavaScript only). @jsii ignore */
  public readonly fleet: Fleet;
  /** The distinct policies, by key (TypeScript and JavaScript only). @jsii ignore */
  public readonly policies: ReadonlyMap<string, PolicyGroup>;
  /** Each host's `for_each` entry, by host name (TypeScript and JavaScript only). @jsii ignore */
  public readonly entries: Readonly<Record<string, HostEntry>>;
  /** The resource that carries the hosts (with a rollout: the first wave's; with only host sets: the first set's). */
  public readonly resource: TerraformResource;
  /**
   * The waves in rollout order with their resources; one wave holding every host without a rollout
   * (TypeScript and JavaScript only).
   * @jsii ignore
   */
  public readonly waves: readonly WaveResource[];
  /** The host sets with their resources, in order (TypeScript and JavaScript only). @jsii ignore */
  public readonly hostSets: readonly HostSetResource[];
  /**
   * The resource that re-runs apply and confirm on every apply for the hosts whose policy says
   * `enforce: "every-apply"` (`<type>.<id>_enforce`); absent when no host does.
   */
  public readonly enforceResource?: TerraformResource;
  /** `null_resource` or `terraform_data`. */
  public readonly resourceType: ResourceType;
  /**
   * Per host, what was applied: `{ "web-1" = { generation = "1a2b3c4d", id = "<instance id>" } }` as a Terraform
   * expression (also the stack output `<id>_applied`): known after apply, for other resources to reference.
   */
  public readonly appliedHosts: IResolvable;

  private readonly last: TerraformResource;

  /**
   * @param scope the stack (or a construct in it) the resources are added to
   * @param id the construct id; also the resources' logical name (`terraform_data.<id>["web-1"]`)
   * @param props the fleet, its policy, and how it is synthesized; validated here, before anything is added
   * @throws LoopbackPolicyError naming the field and the fix, for any invalid input
   */
  constructor(scope: Construct, id: string, props: LoopbackPolicyProps) {
    super(scope, id);
    this.resourceType = checkResourceType(props?.resourceType);
    const setInput = checkHostSets(props?.hostSets);
    // Tokens (values Terraform knows only at plan or apply time) in connection fields are checked by Terraform.
    this.fleet = validateFleet(props, ["resourceType", "rollout", "dependsOn", "hostSets"], {
      isUnresolved: (v) => Token.isUnresolved(v),
      hostSets: setInput.specs,
    });
    checkDependsOn(props.dependsOn);
    checkUniqueName(this, id);
    if (props.rollout !== undefined && this.fleet.hosts.length === 0) {
      throw new LoopbackPolicyError("rollout", "orders the hosts named in `hosts`, and there are none (host sets start after the last wave)", "name the canary and first waves' hosts in `hosts`, or remove rollout");
    }
    const waves = props.rollout === undefined ? undefined : planWaves(this.fleet, props.rollout);
    const waveOf = new Map(waves?.flatMap((w) => w.hosts.map((h) => [h, w.name] as const)));
    const sets = this.fleet.sets ?? [];
    // Every resource name the policy takes (cdktf would merge two elements of one name silently).
    const names = new Map<string, string>([["enforce", "the policy's own <type>.<id>_enforce"], ["converged", "the policy's own <type>.<id>_converged"]]);
    for (const w of waves ?? []) names.set(w.name.toLowerCase(), `the name of a rollout wave (<type>.<id>_${w.name})`);
    sets.forEach((set, i) => {
      const own = [set.name, ...(set.policy.enforce === "every-apply" ? [`${set.name}_enforce`] : [])];
      for (const n of own) {
        const taken = names.get(n.toLowerCase());
        if (taken) throw new LoopbackPolicyError(`hostSets[${i}].name`, `"${set.name}" gives <type>.<id>_${n}, which is ${taken}`, "give the set another name");
      }
      own.forEach((n) => names.set(n.toLowerCase(), `the resource of hostSets[${i}] (<type>.<id>_${n})`));
    });

    const byPolicy = new Map<Policy, PolicyGroup>();
    const groups = new Map<string, PolicyGroup>();
    const entries: Record<string, HostEntry> = {};
    const name = logicalName(id);
    const tokenFacts: Record<string, object> = {};
    const preconditions: Record<string, Precondition[]> = {};
    for (const host of this.fleet.hosts) {
      const group = groupFor(host, byPolicy, groups);
      group.hosts.push(host.name);
      const facts = hostFacts(host, group.key, waveOf.get(host.name));
      if (hasTokens(facts)) {
        // Hashing the token's placeholder text would not follow its value; Terraform hashes the resolved facts.
        tokenFacts[host.name] = facts;
        entries[host.name] = { ...facts, generation: terraformGeneration(`${name}_token_facts`, host.name) };
      } else {
        entries[host.name] = hostEntry(host, group.key, waveOf.get(host.name));
      }
      preconditions[host.name] = preconditionsFor(host, `${name}_hosts`);
    }
    const setGroups = sets.map((set) => {
      const group = groupFor(set, byPolicy, groups);
      group.hostSets.push(set.name);
      return group;
    });
    this.policies = groups;
    this.entries = entries;

    // The locals hold literal text only; `fixLocalHcl` keeps it intact in `cdktf synth --hcl` (see hcl-text.ts).
    const scripts = new TerraformLocal(this, "policy_scripts", Object.fromEntries(
      [...groups.values()].map((g) => [g.key, terraformLiteral(g.script.text)]),
    ));
    fixLocalHcl(scripts).overrideLogicalId(`${name}_policy_scripts`);
    if (this.fleet.hosts.length > 0) {
      fixLocalHcl(new TerraformLocal(this, "host_entries", entries)).overrideLogicalId(`${name}_hosts`);
    }
    if (Object.keys(tokenFacts).length > 0) {
      fixLocalHcl(new TerraformLocal(this, "token_facts", tokenFacts)).overrideLogicalId(`${name}_token_facts`);
    }
    fixLocalHcl(new TerraformLocal(this, "engine", terraformLiteral(engineScript()))).overrideLogicalId(`${name}_engine`);

    const pick = (hosts: readonly string[]) => Object.fromEntries(hosts.map((h) => [h, entries[h]]));
    const staticFeed = (logicalId: string, hosts: readonly string[]): Feed => ({
      forEach: generationsLocal(this, `${logicalId}_for_each`, pick(hosts)),
      input: entryWithScript(name),
      replace: "${each.value}",
    });
    const built: WaveResource[] = [];
    const staticWaves = this.fleet.hosts.length === 0 ? [] : waves ?? [{ name: "", hosts: this.fleet.hosts.map((h) => h.name) }];
    for (const wave of staticWaves) {
      const logicalId = wave.name === "" ? name : `${name}_${wave.name}`;
      const previous = built[built.length - 1]?.resource;
      const resource = hostsResource(this, wave.name === "" ? "hosts" : `wave-${wave.name}`, logicalId, this.resourceType, name, staticFeed(logicalId, wave.hosts), previous);
      const checks = wave.hosts.flatMap((h) => preconditions[h]);
      if (checks.length > 0) resource.addOverride("lifecycle.precondition", checks);
      built.push({ name: wave.name === "" ? "all" : wave.name, hosts: wave.hosts, resource });
    }
    this.waves = built;
    const lastWave = built[built.length - 1]?.resource;
    const staticNames = this.fleet.hosts.map((h) => h.name);
    const staticTargets = this.fleet.hosts.filter((h) => !Token.isUnresolved(h.address) && !Token.isUnresolved(h.port)).map((h) => `${h.address}:${h.port}`);
    this.hostSets = sets.map((set, i) => {
      const group = setGroups[i];
      const script = Token.asString(Fn.lookup(scripts.expression, group.key));
      const feed: Feed = { forEach: setInput.iterators[i], ...hostSetInput(set, group.key, script) };
      // With a rollout, a set starts when the last wave is done; without, beside the hosts named in code.
      const resource = hostsResource(this, `set-${set.name}`, `${name}_${set.name}`, this.resourceType, name, feed, waves ? lastWave : undefined);
      const earlier = sets.slice(0, i).map((template, j) => ({ template, forEach: setInput.iterators[j] }));
      resource.addOverride("lifecycle.precondition", hostSetPreconditions(set, group.key, i, setInput.iterators[i], staticNames, staticTargets, earlier));
      resource.addOverride("//.loopback_policy_host_set", hostSetComment(set, group.key, setInput.iterators[i]));
      return { name: set.name, policy: group.key, resource };
    });
    this.resource = built[0]?.resource ?? this.hostSets[0].resource;
    // depends_on of the first wave and of every host set: the prop, and what node.addDependency added, read when
    // the resource is rendered (JSON or HCL). Not an aspect: under CDK Terrain with cdktf mapped to cdktn, the
    // app's core and ours are two copies, and an aspect registered with ours never runs; nor a Lazy override,
    // which breaks the HCL renderer.
    for (const first of [built[0]?.resource, ...this.hostSets.map((s) => s.resource)]) {
      if (first === undefined) continue;
      const own = first.dependsOn ?? [];
      for (const method of ["toTerraform", "toHclTerraform"] as const) {
        const render = first[method].bind(first);
        first[method] = () => {
          const all = [...new Set([...own, ...this.dependencyFqns(props.dependsOn)])];
          first.dependsOn = all.length > 0 ? all : undefined;
          return render();
        };
      }
    }
    // As a dependency, "every host converged and confirmed": the last wave, or, with host sets, a resource that
    // exists only when the last wave and every set did (terraform_data: built in, no provider).
    const finals = [...(lastWave ? [lastWave] : []), ...this.hostSets.map((s) => s.resource)];
    if (this.hostSets.length > 0) {
      const done = fixResourceHcl(new DataResource(this, "converged", { dependsOn: finals }));
      done.overrideLogicalId(`${name}_converged`);
      this.last = done;
    } else {
      this.last = finals[0];
    }
    const resource = lastWave ?? this.hostSets[this.hostSets.length - 1].resource;

    const everyApply = this.fleet.hosts.filter((h) => h.policy.enforce === "every-apply").map((h) => h.name);
    if (everyApply.length > 0) {
      const enforced = Object.fromEntries(everyApply.map((n) => [n, entries[n]]));
      // null_resource has no triggers_replace: a timestamp in its triggers replaces it on every apply.
      const input = this.resourceType === "null_resource" ? entryWithScript(name, ", enforced_at = timestamp()") : entryWithScript(name);
      const feed = { forEach: generationsLocal(this, `${name}_enforce_for_each`, enforced), input, replace: "${timestamp()}" };
      this.enforceResource = enforceResource(this, "enforce", `${name}_enforce`, this.resourceType, name, resource, feed);
    }
    sets.forEach((set, i) => {
      if (set.policy.enforce !== "every-apply") return;
      const script = Token.asString(Fn.lookup(scripts.expression, setGroups[i].key));
      const { input } = hostSetInput(set, setGroups[i].key, script, this.resourceType === "null_resource" ? { enforced_at: Fn.timestamp() } : {});
      enforceResource(this, `set-${set.name}-enforce`, `${name}_${set.name}_enforce`, this.resourceType, name, this.hostSets[i].resource, { forEach: setInput.iterators[i], input, replace: "${timestamp()}" });
    });

    const applied = new TerraformLocal(this, "applied", `\${merge(${[...built.map((w) => w.resource), ...this.hostSets.map((s) => s.resource)]
      .map((r) => `{ for k, r in ${this.resourceType}.${r.friendlyUniqueId} : k => { generation = r.${this.resourceType === "terraform_data" ? "input" : "triggers"}.generation, id = r.id } }`)
      .join(", ")})}`);
    applied.overrideLogicalId(`${name}_applied`);
    this.appliedHosts = applied.expression as IResolvable;
    // An expression, which the HCL renderer writes well as it is (no fixOutputHcl: that is for literal text).
    new TerraformOutput(this, "applied-output", {
      description: `Per host of ${id}, what was applied (generation and resource instance id); known after apply`,
      value: applied.expression,
    }).overrideLogicalId(`${name}_applied`);
    fixOutputHcl(new TerraformOutput(this, "summary", {
      description: `What each host of ${id} gets: its policy's ordered rules and settings`,
      value: summary(groups),
    })).overrideLogicalId(`${name}_summary`);
    if (waves) {
      fixOutputHcl(new TerraformOutput(this, "rollout", {
        description: `The waves of ${id}, in order: each starts when every host of the one before converged and verified`,
        value: built.map((w) => ({ wave: w.name, hosts: w.hosts, resource: `${this.resourceType}.${name}_${w.name}` })),
      })).overrideLogicalId(`${name}_rollout`);
    }
  }

  /**
   * The generation applied to one host (8 hex digits, the tag of its managed rules): a token, known after apply.
   * @param host the host's name (in `hosts`, or a key of a host set's collection)
   */
  public appliedGeneration(host: string): string {
    // A host set's hosts are known only to Terraform: a name that is none of them fails there, at the lookup.
    if (this.hostSets.length === 0 && !this.fleet.hosts.some((h) => h.name === host)) {
      throw new LoopbackPolicyError("appliedGeneration(host)", `${JSON.stringify(host)} is not a host of ${this.node.path}`, `use one of: ${this.fleet.hosts.map((h) => h.name).join(", ")}`);
    }
    return Fn.lookupNested(this.appliedHosts, [host, "generation"]) as string;
  }

  /**
   * The resource that carries a host set's hosts (`<type>.<id>_<set>`), for other resources to depend on or
   * reference.
   * @param name the set's name
   */
  public hostSetResource(name: string): TerraformResource {
    const set = this.hostSets.find((s) => s.name === name);
    if (set === undefined) {
      throw new LoopbackPolicyError("hostSetResource(name)", `${JSON.stringify(name)} is not a host set of ${this.node.path}`, this.hostSets.length ? `use one of: ${this.hostSets.map((s) => s.name).join(", ")}` : "this policy has no host sets");
    }
    return set.resource;
  }

  /**
   * As a dependency (`dependsOn: [policy]`): the last wave's resource, which exists only when every host of every
   * wave converged, verified and confirmed.
   */
  public get fqn(): string {
    return this.last.fqn;
  }

  /** `depends_on` of the first wave: the `dependsOn` prop, then what `node.addDependency` added (resolved at synth). */
  private dependencyFqns(given: ITerraformDependable[] | undefined): string[] {
    const out: string[] = (given ?? []).map((d) => dependable(d));
    if (this.node.dependencies.length === 0) return out;
    this.node.dependencies.forEach((d, i) => {
      const dependables = d.node.findAll().filter(isDependable);
      if (dependables.length === 0) {
        throw new LoopbackPolicyError(
          `${this.node.path}: node.addDependency(...)[${i}]`,
          `${d.node.path} holds no Terraform resource, data source or module to depend on`,
          "add a dependency on the resource the hosts need (or on a construct that holds it)",
        );
      }
      for (const x of dependables) out.push(dependable(x));
    });
    return [...new Set(out)];
  }
}

/**
 * What Terraform can depend on: a resource, a data source or a module call. Resources and data sources by cdktf's
 * own symbol checks, which hold across two copies of the core (CDK Terrain with cdktf mapped to cdktn), where
 * `instanceof` does not; modules have no such check.
 */
function isDependable(c: IConstruct): c is IConstruct & ITerraformDependable {
  return TerraformResource.isTerraformResource(c) || TerraformDataSource.isTerraformDataSource(c) || c instanceof TerraformModule;
}

function checkDependsOn(dependsOn: unknown): void {
  if (dependsOn === undefined) return;
  if (!Array.isArray(dependsOn)) {
    throw new LoopbackPolicyError("dependsOn", "is not a list", "pass a list of resources, data sources or modules: dependsOn: [vm]");
  }
  dependsOn.forEach((d, i) => {
    if (typeof d !== "object" || d === null || typeof (d as { fqn?: unknown }).fqn !== "string") {
      throw new LoopbackPolicyError(`dependsOn[${i}]`, "is not a Terraform resource, data source or module (it has no fqn)", "pass the resource itself (dependsOn: [vm]), not its id or an attribute");
    }
  });
}

/**
 * Two policies with one id in one stack would synthesize the same Terraform names (`terraform_data.<id>`, the
 * locals) and merge silently: refuse, naming both construct paths.
 */
function checkUniqueName(policy: LoopbackPolicy, id: string): void {
  const stack = TerraformStack.of(policy);
  const name = logicalName(id);
  const other = stack.node.findAll().find((c) => c !== policy && c instanceof LoopbackPolicy && logicalName(c.node.id) === name);
  if (other) {
    throw new LoopbackPolicyError(
      "id",
      `"${id}" at ${policy.node.path} gives the same Terraform names (<type>.${name}, local.${name}_hosts) as the LoopbackPolicy at ${other.node.path}: one would silently replace the other's hosts`,
      "give each LoopbackPolicy in a stack its own id (a construct used twice can take the id as a parameter)",
    );
  }
}

/**
 * What a resource's instances are and what each holds: `for_each` (a reference to a local, or a host set's
 * iterator), the `input`/`triggers` value, and (terraform_data) the value whose change replaces an instance.
 */
interface Feed {
  readonly forEach: string | ITerraformIterator;
  readonly input: string;
  readonly replace: string;
}

/** A terraform_data or null_resource with `for_each` from the feed; `self` is where its provisioners read the entry. */
function carrier(scope: Construct, constructId: string, logicalId: string, type: ResourceType, feed: Feed, dependsOn: TerraformResource[] | undefined, createBeforeDestroy: boolean): { resource: TerraformResource; self: string } {
  const forEach = typeof feed.forEach === "string" ? undefined : feed.forEach;
  const lifecycle = createBeforeDestroy ? { createBeforeDestroy: true } : undefined;
  let resource: TerraformResource;
  let self: string;
  if (type === "terraform_data") {
    resource = new DataResource(scope, constructId, { lifecycle, dependsOn, forEach });
    resource.addOverride("input", feed.input);
    resource.addOverride("triggers_replace", feed.replace);
    self = "self.input";
  } else {
    resource = nullResource(scope, constructId, { lifecycle, dependsOn, forEach });
    resource.addOverride("triggers", feed.input);
    self = "self.triggers";
  }
  resource.overrideLogicalId(logicalId);
  if (typeof feed.forEach === "string") resource.addOverride("for_each", feed.forEach);
  resource.addOverride("connection", connection(self));
  return { resource, self };
}

/**
 * The resource that carries a set of hosts: `for_each` over their entries, the connection and the three
 * provisioner blocks (apply; confirm on a new connection; remove at destroy), replaced (create before destroy)
 * when a host's generation changes.
 */
function hostsResource(
  scope: Construct,
  constructId: string,
  logicalId: string,
  type: ResourceType,
  name: string,
  feed: Feed,
  after: TerraformResource | undefined,
): TerraformResource {
  const { resource, self } = carrier(scope, constructId, logicalId, type, feed, after ? [after] : undefined, true);
  resource.addOverride("provisioner", [
    { "remote-exec": { inline: inline("apply", self, true, name) } },
    { "remote-exec": { inline: inline("confirm", self, true, name) } },
    { "remote-exec": { when: "destroy", inline: inline("remove", self, true) } },
  ]);
  return fixResourceHcl(resource);
}

/**
 * Re-runs apply and confirm on every apply, for the given hosts. Replaced each time (its trigger is
 * `timestamp()`). It neither claims the rules (its runs pass no instance id) nor has a destroy-time block:
 * removing a host's rules is the main resource's job.
 */
function enforceResource(
  scope: Construct,
  constructId: string,
  logicalId: string,
  type: ResourceType,
  name: string,
  main: TerraformResource,
  feed: Feed,
): TerraformResource {
  const { resource, self } = carrier(scope, constructId, logicalId, type, feed, [main], false);
  resource.addOverride("provisioner", [
    { "remote-exec": { inline: inline("apply", self, false, name) } },
    { "remote-exec": { inline: inline("confirm", self, false, name) } },
  ]);
  return fixResourceHcl(resource);
}

/** A host's entry plus its policy's script (and `extra` fields): what `input`/`triggers` hold. */
function entryWithScript(name: string, extra = ""): string {
  const entry = `local.${name}_hosts[each.key]`;
  return `\${merge(${entry}, { policy_script = local.${name}_policy_scripts[${entry}.policy]${extra} })}`;
}

/**
 * The `for_each` value: host name to generation, in a local of its own (`<resource>_for_each`), referenced by
 * the resource. Small on purpose: the entries live in the local `<id>_hosts`, evaluated once. A literal map
 * (of entries, or even of generations) in `for_each` made `plan` quadratic: Terraform re-evaluates the
 * literal for every instance (over 60 s, then 38 s, at 1,000 hosts; 5.8 s from a local: docs/BENCHMARKS.md).
 * @returns the reference to put in `for_each`
 */
function generationsLocal(scope: Construct, logicalId: string, entries: Record<string, HostEntry>): string {
  const map = Object.fromEntries(Object.entries(entries).map(([host, e]) => [host, e.generation]));
  fixLocalHcl(new TerraformLocal(scope, logicalId, map)).overrideLogicalId(logicalId);
  return `\${local.${logicalId}}`;
}

function groupFor(host: Host, byPolicy: Map<Policy, PolicyGroup>, groups: Map<string, PolicyGroup>): PolicyGroup {
  const known = byPolicy.get(host.policy);
  if (known) return known;
  const plan = planRules(host.policy);
  const script = renderPolicyScript(host.policy, plan);
  const group = groups.get(script.key) ?? { key: script.key, policy: host.policy, plan, script, hosts: [], hostSets: [] };
  groups.set(script.key, group);
  byPolicy.set(host.policy, group);
  return group;
}

/**
 * A provisioner's `inline`: shebang, host facts read through `self`, the policy script, the engine.
 * @param owner the resource owns the rules it converges (the main resources; not `<id>_enforce`)
 */
function inline(mode: ScriptMode, self: string, owner: boolean, engineLocal?: string): string[] {
  const facts = hostFactsLine({
    mode,
    host: `\${${self}.name}`,
    generation: `\${${self}.generation}`,
    sudo: `\${${self}.sudo}`,
    instance: owner ? "${self.id}" : "",
  });
  const [shebang, factsLine, , engine] = hostScriptParts(facts, "");
  // Create-time blocks reference the engine in a local: Terraform builds that string once instead of once per
  // instance and block (a 20 KB literal per block made plan cost ~0.1 s a host). A destroy-time block may
  // reference only self, so it carries the engine literally.
  return [shebang, factsLine, `\${${self}.policy_script}`, engineLocal ? `\${local.${engineLocal}_engine}` : terraformLiteral(engine)];
}

function connection(self: string): Record<string, string> {
  const orNull = (field: string, value = `${self}.${field}`) => `\${${self}.${field} == "" ? null : ${value}}`;
  return {
    type: "ssh",
    host: `\${${self}.address}`,
    port: `\${${self}.port}`,
    user: `\${${self}.user}`,
    private_key: orNull("private_key_path", `file(pathexpand(${self}.private_key_path))`),
    agent: `\${${self}.private_key_path == ""}`,
    host_key: orNull("host_key"),
    bastion_host: orNull("bastion_host"),
    bastion_port: orNull("bastion_port"),
    bastion_user: orNull("bastion_user"),
    bastion_private_key: orNull("bastion_private_key_path", `file(pathexpand(${self}.bastion_private_key_path))`),
    bastion_host_key: orNull("bastion_host_key"),
    timeout: `\${${self}.timeout}`,
    script_path: SCRIPT_PATH,
  };
}

/**
 * Where Terraform uploads each provisioner's script before it runs it: the login user's home directory (SSH
 * sessions start there), not the default `/tmp/terraform_%RAND%.sh`. Terraform makes the upload mode 0777, so in
 * a directory every user can enter any local user could rewrite it between upload and run and get root; a home
 * directory is private (root's `/root` is 0700 everywhere; the engine refuses to run from one other users can
 * enter, naming the fix). The engine removes its script when it ends.
 */
export const SCRIPT_PATH = "./.loopback-policy-%RAND%.sh";

function summary(groups: ReadonlyMap<string, PolicyGroup>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const g of groups.values()) {
    out[g.key] = {
      hosts: g.hosts,
      // Only when there are host sets, so stacks without them synthesize as before.
      ...(g.hostSets.length > 0 ? { host_sets: g.hostSets } : {}),
      rules: [...g.plan.ipv4, ...g.plan.ipv6].map(ruleCommand),
      ipv6: g.policy.ipv6,
      persistence: g.policy.persistence.toString(),
      verify: g.policy.verify,
      rollback_seconds: g.policy.rollbackSeconds,
      other_firewall: g.policy.otherFirewall,
      // Only when not the default, so on-change stacks synthesize as before; readers take absent as on-change.
      ...(g.policy.enforce === "every-apply" ? { enforce: g.policy.enforce } : {}),
      // Only for manage policies (others synthesize as before): the rules in ufw's terms, used when ufw is in charge.
      ...(g.policy.otherFirewall === "manage" ? { ufw_rules: planUfw(g.policy).rules.map((r) => r.command) } : {}),
      // Only for otherFirewall "manage": the same policy as nft commands, for hosts run by native nftables.
      ...(g.policy.otherFirewall === "manage" ? { nft_rules: nftCommands(planNftables(g.policy)) } : {}),
      // Only for otherFirewall "manage": the same policy as firewall-cmd commands, for hosts run by firewalld.
      ...(g.policy.otherFirewall === "manage" ? { firewalld_rules: firewalldCommands(planFirewalld(g.policy)) } : {}),
    };
  }
  return out;
}

function checkResourceType(value: unknown): ResourceType {
  if (value === undefined) return "null_resource";
  if (value === "null_resource" || value === "terraform_data") return value;
  throw new LoopbackPolicyError("resourceType", `unknown value ${JSON.stringify(value)}`, 'use "null_resource" or "terraform_data"');
}

function logicalName(id: string): string {
  const name = id.replace(/[^A-Za-z0-9_-]/g, "_");
  return /^[A-Za-z_]/.test(name) ? name : `_${name}`;
}
