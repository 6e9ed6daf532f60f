import { spawnSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as fc from "fast-check";
import { App, TerraformOutput, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps } from "../../lib/core";
import { SynthOutputError } from "../../lib/contract/errors";
import { readSynthOut } from "../../lib/contract/read-out";
import { terraformUnliteral } from "../../lib/contract/unescape";
import { terraformLiteral } from "../../lib/constructs/terraform-text";
import { reviewCli } from "../../lib/cli/review";
import { diffRules, diffStacks } from "../../lib/review/diff";
import { ReviewStack } from "../../lib/review/model";
import { nextRecord } from "../../lib/review/baseline";

const ROOT = join(__dirname, "..", "..");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHo";

/** The example fleet: two web hosts share the fleet policy, db-1 has its own. */
const FLEET: LoopbackPolicyProps = {
  resourceType: "terraform_data",
  connection: { privateKeyPath: "~/.ssh/fleet" },
  hosts: [
    { name: "web-1", address: "192.0.2.11", hostKey: [KEY] },
    { name: "web-2", address: "192.0.2.12" },
    { name: "db-1", address: "192.0.2.21", user: "deploy", policy: { localOnlyPorts: ["tcp/5432"], ipv6: "off", verify: "icmp" } },
  ],
};

const DEFAULT_V4 = ["iptables -A INPUT -i lo -j ACCEPT", "iptables -A INPUT -s 127.0.0.0/8 ! -i lo -j DROP", "iptables -A OUTPUT -o lo -j ACCEPT"];
const DEFAULT_V6 = ["ip6tables -A INPUT -i lo -j ACCEPT", "ip6tables -A INPUT -s ::1/128 ! -i lo -j DROP", "ip6tables -A OUTPUT -o lo -j ACCEPT"];
const DB_V4 = [...DEFAULT_V4.slice(0, 2), "iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432 -j DROP", DEFAULT_V4[2]];

/** A project directory with a cdktf.out synthesized from the given stacks, like `npm run synth` (which wipes it first). */
function synthTo(outdir: string, stacks: Record<string, LoopbackPolicyProps | "foreign">): string {
  rmSync(outdir, { recursive: true, force: true });
  const app = new App({ outdir });
  for (const [name, props] of Object.entries(stacks)) {
    const stack = new TerraformStack(app, name);
    if (props === "foreign") new TerraformOutput(stack, "hello", { value: "world" });
    else new LoopbackPolicy(stack, "loopback", props);
  }
  app.synth();
  return outdir;
}

function project(): { dir: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "lbp-review-"));
  return { dir, out: join(dir, "cdktf.out") };
}

function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  const code = reviewCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

const json = (argv: string[]) => JSON.parse(run([...argv, "--format", "json"]).stdout);

describe("reading a synthesized cdktf.out", () => {
  test("GIVEN a synth WHEN read THEN each policy's summary, unescaped scripts, entries and the engine come back", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    const read = readSynthOut(out);
    expect(read.stacks.map((s) => s.name)).toEqual(["fleet"]);
    const [p] = read.stacks[0].policies;
    expect(p).toMatchObject({ stack: "fleet", id: "loopback", resourceType: "terraform_data", enforced: [] });
    expect(Object.keys(p.entries).sort()).toEqual(["db-1", "web-1", "web-2"]);
    expect(p.entries["web-1"]).toMatchObject({ address: "192.0.2.11", host_key: KEY, private_key_path: "~/.ssh/fleet", sudo: "0" });
    expect(p.entries["db-1"]).toMatchObject({ user: "deploy", sudo: "1" });
    expect(p.engine).toContain("${1:-}");
    expect(p.engine).not.toContain("$${");
    expect(Object.keys(p.scripts)).toEqual(Object.keys(p.summary));
  });

  test("GIVEN any text WHEN escaped for Terraform and read back THEN it is the same text", () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom("$", "%", "{", "}", "$$", "a", "\n") }), (s) => terraformUnliteral(terraformLiteral(s)) === s));
  });

  test.each([
    ["a directory that does not exist", (dir: string) => join(dir, "nope"), "missing", /does not exist\. Fix: run `npm run synth` first, or pass --dir/],
    ["an empty directory", (dir: string) => (mkdirSync(join(dir, "empty")), join(dir, "empty")), "missing", /no synthesized stack in it \(no stacks\/\*\/cdk\.tf\.json\)\. Fix: run `npm run synth`/],
    ["stacks of another app", (dir: string) => synthTo(join(dir, "other.out"), { web: "foreign", db: "foreign" }), "foreign", /none of its stacks \(db, web\) holds a LoopbackPolicy \(an output <id>_summary, a local <id>_policy_scripts and a terraform_data or null_resource with for_each that reads it\)\. Fix: pass --dir with the cdktf\.out of an app that uses LoopbackPolicy/],
  ])("GIVEN %s WHEN read THEN a SynthOutputError says what is wrong and how to fix it", (_name, make, problem, message) => {
    const target = make(project().dir);
    let error: unknown;
    try {
      readSynthOut(target);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SynthOutputError);
    expect((error as SynthOutputError).problem).toBe(problem);
    expect((error as SynthOutputError).path).toBe(target);
    expect((error as SynthOutputError).message).toMatch(message);
  });

  test("GIVEN the hosts spread over several resources (waves) and an enforce resource THEN every host is read, and the every-apply ones are known", () => {
    const { out } = project();
    synthTo(out, { fleet: { ...FLEET, hosts: FLEET.hosts!.map((h) => (h.name === "web-2" ? { ...h, policy: { enforce: "every-apply" as const } } : h)) } });
    const file = join(out, "stacks", "fleet", "cdk.tf.json");
    const doc = JSON.parse(readFileSync(file, "utf8"));
    const all = doc.resource.terraform_data.loopback;
    const { "web-1": canary, ...rest } = doc.locals.loopback_for_each;
    doc.locals.loopback_canary_for_each = { "web-1": canary };
    doc.locals.loopback_fleet_for_each = rest;
    doc.resource.terraform_data = {
      loopback_canary: { ...all, for_each: "${local.loopback_canary_for_each}" },
      loopback_fleet: { ...all, for_each: "${local.loopback_fleet_for_each}" },
      loopback_enforce: doc.resource.terraform_data.loopback_enforce,
    };
    writeFileSync(file, JSON.stringify(doc));
    const [p] = readSynthOut(out).stacks[0].policies;
    expect(Object.keys(p.entries).sort()).toEqual(["db-1", "web-1", "web-2"]);
    expect(p.enforced).toEqual(["web-2"]);
    expect(p.engine).toContain("check) lbp_check ;;");
  });

  test("GIVEN a hand-edited stack whose parts do not fit together THEN an invalid SynthOutputError names the construct and the part", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    const file = join(out, "stacks", "fleet", "cdk.tf.json");
    const doc = JSON.parse(readFileSync(file, "utf8"));
    delete doc.locals.loopback_for_each["web-2"];
    writeFileSync(file, JSON.stringify(doc));
    expect(() => readSynthOut(out)).toThrow(/LoopbackPolicy "loopback" of stack "fleet": output loopback_summary\["[0-9a-f]{12}"\] names host "web-2", which the resource's for_each does not hold\. Fix: synthesize again/);
    expect(run(["--dir", out]).code).toBe(2);
  });

  test("GIVEN a LoopbackPolicy stack next to a foreign one THEN the foreign one is listed, not an error", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET, other: "foreign" });
    expect(readSynthOut(out).foreign).toEqual(["other"]);
    expect(run(["--dir", out, "--no-record"]).stdout).toContain("not reviewed (no LoopbackPolicy): other");
  });
});

describe("the review of one synth", () => {
  const { out } = project();
  beforeAll(() => synthTo(out, { fleet: FLEET }));

  test("GIVEN two hosts sharing a policy WHEN reviewed (text) THEN they are one group, most hosts first, each host on its own line", () => {
    const { code, stdout } = run(["--dir", out, "--no-record"]);
    expect(code).toBe(0);
    expect(stdout).toContain('== stack "fleet": LoopbackPolicy "loopback" (terraform_data): 3 hosts, 2 policies');
    const policies = [...stdout.matchAll(/^policy ([0-9a-f]{12}): (\d) hosts?$/gm)].map((m) => m[2]);
    expect(policies).toEqual(["2", "1"]);
    expect(stdout).toMatch(/^ {4}web-1 {2}root@192\.0\.2\.11:22 {2}key ~\/\.ssh\/fleet {2}host key pinned {2}generation [0-9a-f]{8}$/m);
    expect(stdout).toMatch(/^ {4}web-2 {2}root@192\.0\.2\.12:22 {2}key ~\/\.ssh\/fleet {2}host key not pinned {2}generation [0-9a-f]{8}$/m);
    expect(stdout).toMatch(/^ {4}db-1 {2}deploy@192\.0\.2\.21:22 \(sudo\) {2}key ~\/\.ssh\/fleet {2}host key not pinned/m);
  });

  test("THEN each policy lists its rules per family as iptables commands, in order, then its settings", () => {
    const { stdout } = run(["--dir", out, "--no-record"]);
    const [web, db] = stdout.split(/^policy /m).slice(1);
    expect(web).toContain(["  ipv4: top of INPUT and OUTPUT, in this order", ...DEFAULT_V4.map((r) => `    ${r}`)].join("\n"));
    expect(web).toContain(["  ipv6 (auto: where ip6tables exists and IPv6 is on): in this order", ...DEFAULT_V6.map((r) => `    ${r}`)].join("\n"));
    expect(web).toContain("  ipv6: auto; persistence: auto; verify: auto; rollback: 30s; other firewall: fail; enforce: on-change");
    expect(db).toContain(DB_V4.map((r) => `    ${r}`).join("\n"));
    expect(db).toContain("  ipv6: off (no ip6tables rules)\n  ipv6: off; persistence: auto; verify: icmp;");
    expect(db).not.toMatch(/^ +ip6tables -A/m);
  });

  test("THEN, reviewed for the first time, it says there is nothing to compare with", () => {
    expect(run(["--dir", out, "--no-record"]).stdout).toContain('changes in stack "fleet": no previous synth is recorded for this stack\n');
  });

  test("WHEN reviewed as Markdown THEN a heading per construct and policy, a host table, the rules in an sh block, the settings", () => {
    const { code, stdout } = run(["--dir", out, "--no-record", "--format", "markdown"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^## Loopback policy review$/m);
    expect(stdout).toContain("### Stack `fleet`: LoopbackPolicy \"loopback\" (terraform_data): 3 hosts, 2 policies");
    expect(stdout.match(/^#### Policy `[0-9a-f]{12}`: (\d) hosts?$/gm)).toHaveLength(2);
    expect(stdout).toContain("| host | connection | key | host key | generation |");
    expect(stdout).toMatch(/^\| `web-1` \| `root@192\.0\.2\.11:22` \| `~\/\.ssh\/fleet` \| pinned \| `[0-9a-f]{8}` \|$/m);
    expect(stdout).toMatch(/^\| `web-2` \| .* \| \*\*not pinned\*\* \|/m);
    expect(stdout).toContain(["```sh", "# ipv4: top of INPUT and OUTPUT, in this order", ...DEFAULT_V4, "# ipv6 (auto: where ip6tables exists and IPv6 is on): in this order", ...DEFAULT_V6, "```"].join("\n"));
    expect(stdout).toContain("**ipv6** `auto` · **persistence** `auto` · **verify** `auto` · **rollback** `30s` · **other firewall** `fail` · **enforce** `on-change`");
    expect(stdout).toContain("#### Changes in stack `fleet`\n\n_no previous synth is recorded for this stack_");
  });

  test("WHEN reviewed as JSON THEN groups with keys, hosts and rules per family, hosts with their connection facts", () => {
    const r = json(["--dir", out, "--no-record"]);
    expect(r.recorded).toBe(false);
    const [s] = r.stacks;
    expect(s).toMatchObject({ stack: "fleet", baseline: null, changes: null });
    const [c] = s.constructs;
    expect(c.groups.map((g: any) => g.hosts)).toEqual([["web-1", "web-2"], ["db-1"]]);
    expect(c.groups[0].rules).toEqual({ ipv4: DEFAULT_V4, ipv6: DEFAULT_V6 });
    expect(c.groups[1].rules).toEqual({ ipv4: DB_V4, ipv6: [] });
    expect(c.groups[1].settings).toEqual({ ipv6: "off", persistence: "auto", verify: "icmp", rollbackSeconds: 30, otherFirewall: "fail", enforce: "on-change" });
    expect(c.hosts.find((h: any) => h.name === "db-1")).toMatchObject({ address: "192.0.2.21", port: 22, user: "deploy", sudo: true, keyFile: "~/.ssh/fleet", hostKeyPinned: false, bastion: null, policy: c.groups[1].key });
  });

  test("GIVEN every-apply and a bastion THEN the review shows them", () => {
    const p = project();
    synthTo(p.out, { fleet: { ...FLEET, enforce: "every-apply", connection: { bastion: { address: "192.0.2.1", user: "jump" } } } });
    const text = run(["--dir", p.out, "--no-record"]).stdout;
    expect(text).toContain("enforce: every-apply");
    expect(text).toMatch(/web-2 {2}root@192\.0\.2\.12:22 via jump@192\.0\.2\.1:22 {2}SSH agent/);
  });
});

describe("what changed since the previous synth", () => {
  const changed: LoopbackPolicyProps = {
    ...FLEET,
    hosts: [
      { name: "web-1", address: "192.0.2.11", hostKey: [KEY], port: 2222 },
      { name: "web-3", address: "192.0.2.13" },
      { name: "db-1", address: "192.0.2.21", user: "deploy", policy: { localOnlyPorts: ["tcp/5432", "tcp/9187"], ipv6: "off", verify: "tcp", logDrops: true } },
    ],
  };

  test("GIVEN a first review WHEN the app is synthesized again (cdktf.out wiped) with other hosts and policies THEN the review lists what changed", () => {
    const { dir, out } = project();
    synthTo(out, { fleet: FLEET });
    expect(run(["--dir", out]).code).toBe(0);
    expect(existsSync(join(dir, ".loopback-review", "fleet.json"))).toBe(true);
    synthTo(out, { fleet: changed });
    const { code, stdout } = run(["--dir", out]);
    expect(code).toBe(0);
    const changes = stdout.slice(stdout.indexOf('changes in stack "fleet"'));
    expect(changes).toMatch(/^changes in stack "fleet": compared with the previous different synth \(first seen \d{4}-\d\d-\d\dT[\d:.]+Z\)$/m);
    expect(changes).toContain("    hosts added: web-3\n");
    expect(changes).toContain("    hosts removed: web-2\n");
    expect(changes).toMatch(/^ {4}policy changed: db-1 \([0-9a-f]{12} -> [0-9a-f]{12}\)$/m);
    expect(changes).toContain("    entry changed (re-runs): web-1 (port)\n");
    expect(changes).toMatch(/^ {4}policy [0-9a-f]{12} \(was [0-9a-f]{12}\) for db-1:$/m);
    expect(changes).toContain([
      "      ipv4:",
      '        + iptables -A INPUT -s 127.0.0.0/8 ! -i lo -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "lbp-drop spoof: "',
      '        + iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432,9187 -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "lbp-drop local-tcp-1: "',
      "        + iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432,9187 -j DROP",
      "        - iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432 -j DROP",
      "      verify: icmp -> tcp",
    ].join("\n"));
    expect(changes).toMatch(/^ {4}policies no host has any more: [0-9a-f]{12}$/m);
  });

  test("GIVEN a changed synth already reviewed WHEN reviewed again THEN the same changes (the state keeps the synth before it)", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    run(["--dir", out]);
    synthTo(out, { fleet: changed });
    const first = json(["--dir", out]).stacks[0];
    const again = json(["--dir", out]).stacks[0];
    expect(again.changes).toEqual(first.changes);
    expect(again.baseline).toEqual(first.baseline);
    expect(first.changes.unchanged).toBe(false);
  });

  test("GIVEN a baseline synthesized from the same app THEN no changes", () => {
    const base = project();
    const head = project();
    synthTo(base.out, { fleet: FLEET });
    synthTo(head.out, { fleet: { ...FLEET, hosts: [...FLEET.hosts!] } });
    const { stdout } = run(["--dir", head.out, "--baseline", base.out]);
    expect(stdout).toContain(`changes in stack "fleet": compared with ${base.out}\n  no changes\n`);
  });

  test("WHEN the changes are reviewed as JSON THEN hosts and rules changes are structured", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    run(["--dir", out]);
    synthTo(out, { fleet: changed });
    const [c] = json(["--dir", out]).stacks[0].changes.constructs;
    expect(c).toMatchObject({ id: "loopback", construct: "changed", hostsAdded: ["web-3"], hostsRemoved: ["web-2"], entryChanged: [{ host: "web-1", fields: ["port"] }] });
    expect(c.policyChanged.map((p: any) => p.host)).toEqual(["db-1"]);
    const db = c.policies.find((p: any) => p.hosts.includes("db-1"));
    expect(db.previousKey).toBe(c.policyChanged[0].from);
    expect(db.rules.ipv4.removed).toEqual(["iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432 -j DROP"]);
    expect(db.rules.ipv4.added).toHaveLength(3);
    expect(db.rules.ipv6).toEqual({ added: [], removed: [], moved: [] });
    expect(db.settings).toEqual([{ name: "verify", from: "icmp", to: "tcp" }]);
  });

  test("WHEN the changes are reviewed as Markdown THEN a diff block per changed policy", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    run(["--dir", out]);
    synthTo(out, { fleet: changed });
    const md = run(["--dir", out, "--format", "markdown"]).stdout;
    expect(md).toContain("- hosts added: `web-3`\n- hosts removed: `web-2`\n");
    expect(md).toMatch(/^- policy changed: `db-1` \(`[0-9a-f]{12}` → `[0-9a-f]{12}`\)$/m);
    expect(md).toContain("  ```diff\n  + iptables -A INPUT -s 127.0.0.0/8");
    expect(md).toContain("  - iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432 -j DROP\n  ```");
    expect(md).toContain("  - verify: `icmp` → `tcp`");
  });

  test("GIVEN a rollout THEN the waves are shown in order, and a host moved to another wave re-runs", () => {
    const base = project();
    const head = project();
    synthTo(base.out, { fleet: { ...FLEET, rollout: { canary: ["web-1"] } } as LoopbackPolicyProps });
    synthTo(head.out, { fleet: { ...FLEET, rollout: { canary: ["web-1"], batchSize: 1 } } as LoopbackPolicyProps });
    expect(run(["--dir", base.out, "--no-record"]).stdout).toContain("rollout, wave after wave: canary (web-1) -> fleet (web-2, db-1)\n");
    const md = run(["--dir", head.out, "--no-record", "--format", "markdown"]).stdout;
    expect(md).toContain("**Rollout**, wave after wave: `canary` (`web-1`) → `fleet-1` (`web-2`) → `fleet-2` (`db-1`)");
    const text = run(["--dir", head.out, "--baseline", base.out]).stdout;
    expect(text).toContain("    entry changed (re-runs): db-1 (wave)\n    entry changed (re-runs): web-2 (wave)\n");
    expect(text).not.toContain("web-1 (wave)");
  });

  test("GIVEN --baseline DIR THEN it compares with that synth and records nothing", () => {
    const base = project();
    const head = project();
    synthTo(base.out, { fleet: FLEET });
    synthTo(head.out, { fleet: changed, extra: FLEET });
    const r = json(["--dir", head.out, "--baseline", base.out]);
    expect(r.stateDir).toBeNull();
    expect(existsSync(join(head.dir, ".loopback-review"))).toBe(false);
    const fleet = r.stacks.find((s: any) => s.stack === "fleet");
    const extra = r.stacks.find((s: any) => s.stack === "extra");
    expect(fleet.baseline).toEqual({ kind: "dir", dir: base.out });
    expect(fleet.changes.constructs[0].hostsAdded).toEqual(["web-3"]);
    expect(extra.changes.constructs[0]).toMatchObject({ construct: "added", hostsAdded: ["db-1", "web-1", "web-2"] });
  });

  test("GIVEN --no-record THEN no state is written, and --state-dir puts it elsewhere", () => {
    const { dir, out } = project();
    synthTo(out, { fleet: FLEET });
    run(["--dir", out, "--no-record"]);
    expect(existsSync(join(dir, ".loopback-review"))).toBe(false);
    const state = join(dir, "elsewhere");
    run(["--dir", out, "--state-dir", state]);
    expect(JSON.parse(readFileSync(join(state, "fleet.json"), "utf8"))).toMatchObject({ version: 1, previous: null, current: { model: { stack: "fleet" } } });
  });
});

describe("diffs, piece by piece", () => {
  test("GIVEN rules added, removed and moved THEN each is named once, moved ones outside the longest common order", () => {
    expect(diffRules(["a", "b", "c", "d"], ["b", "a", "c", "e"])).toEqual({ added: ["e"], removed: ["d"], moved: ["a"] });
    expect(diffRules(["a", "b"], ["a", "b"])).toEqual({ added: [], removed: [], moved: [] });
    expect(diffRules([], ["a"])).toEqual({ added: ["a"], removed: [], moved: [] });
  });

  test("GIVEN a new policy whose hosts came from two old ones THEN it is compared with the one most of them had", () => {
    const host = (name: string, policy: string) => ({ name, address: "192.0.2.1", port: 22, user: "root", sudo: false, keyFile: null, hostKeyPinned: false, bastion: null, policy, wave: null, generation: "00000000" });
    const settings = { ipv6: "auto", persistence: "auto", verify: "auto", rollbackSeconds: 30, otherFirewall: "fail", enforce: "on-change" };
    const group = (key: string, hosts: string[], ipv4: string[]) => ({ key, hosts, hostSets: [], rules: { ipv4, ipv6: [] }, settings });
    const before: ReviewStack = { stack: "s", constructs: [{ id: "x", resourceType: "terraform_data", groups: [group("old-a", ["h1", "h2"], ["r1"]), group("old-b", ["h3"], ["r2"])], hosts: [host("h1", "old-a"), host("h2", "old-a"), host("h3", "old-b")], hostSets: [], rollout: null }] };
    const after: ReviewStack = { stack: "s", constructs: [{ id: "x", resourceType: "terraform_data", groups: [group("new", ["h1", "h2", "h3"], ["r1", "r3"])], hosts: [host("h1", "new"), host("h2", "new"), host("h3", "new")], hostSets: [], rollout: null }] };
    const [c] = diffStacks(before, after).constructs;
    expect(c.policies).toEqual([expect.objectContaining({ key: "new", previousKey: "old-a", rules: { ipv4: { added: ["r3"], removed: [], moved: [] }, ipv6: { added: [], removed: [], moved: [] } } })]);
    expect(c.policiesRemoved).toEqual(["old-a", "old-b"]);
    expect(diffStacks(after, after).unchanged).toBe(true);
  });

  test("GIVEN the state of one synth WHEN another comes THEN it is compared with the last one, and the same one again with the one before", () => {
    const m1: ReviewStack = { stack: "s", constructs: [] };
    const m2: ReviewStack = { stack: "s", constructs: [{ id: "x", resourceType: "null_resource", groups: [], hosts: [], hostSets: [], rollout: null }] };
    const t = new Date("2026-01-01T00:00:00Z");
    const first = nextRecord(null, m1, t);
    expect(first.baseline).toBeNull();
    const second = nextRecord(first.record, m2, t);
    expect(second.baseline?.model).toEqual(m1);
    expect(nextRecord(second.record, m2, t).baseline?.model).toEqual(m1);
    expect(nextRecord(second.record, m2, t).record).toBe(second.record);
  });
});

describe("the command line", () => {
  test.each([
    [["--format", "yaml"], /--format: unknown value "yaml"\. Fix: use one of text, markdown, json/],
    [["--dirr", "x"], /--dirr: unknown option\. Fix: use one of --dir, /],
    [["cdktf.out"], /cdktf\.out: unexpected argument/],
    [["--dir"], /--dir: needs a value/],
  ])("GIVEN %j THEN exit 2 with the option and the fix", (argv, message) => {
    const r = run(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
  });

  test("GIVEN a missing cdktf.out WHEN `npm run review` THEN exit 2 and the fix, on stderr", () => {
    const r = spawnSync("npm", ["run", "--silent", "review", "--", "--dir", join(project().dir, "cdktf.out")], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^loopback-review: .*cdktf\.out: no synthesized output: the directory does not exist\. Fix: run `npm run synth` first/m);
  });

  test("GIVEN a foreign cdktf.out WHEN the bin runs THEN exit 2 naming its stacks", () => {
    const { out } = project();
    synthTo(out, { web: "foreign" });
    const r = spawnSync("node", [join(ROOT, "bin", "loopback-review.js"), "--dir", out], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/none of its stacks \(web\) holds a LoopbackPolicy/);
  });

  test("GIVEN a synth WHEN the bin runs with --format json THEN exit 0 and the JSON on stdout", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    const r = spawnSync("node", [join(ROOT, "bin", "loopback-review.js"), "--dir", out, "--format", "json", "--no-record"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).stacks[0].constructs[0].hosts).toHaveLength(3);
  });
});

describe("policies that manage the firewall in charge", () => {
  test("GIVEN otherFirewall: manage THEN the summary carries the ufw rules and review shows them as when ufw is in charge, in every format", () => {
    const { out } = project();
    synthTo(out, { fleet: { ...FLEET, hosts: FLEET.hosts!.slice(0, 1), otherFirewall: "manage" } });
    const ufw = [
      "ufw allow in on lo comment 'lbp:<generation>:lo-in'",
      "ufw allow out on lo comment 'lbp:<generation>:lo-out'",
      "ufw deny in from 127.0.0.0/8 comment 'lbp:<generation>:spoof'",
      "ufw deny in from ::1 comment 'lbp:<generation>:spoof'",
    ];
    const text = run(["--dir", out, "--no-record"]).stdout;
    expect(text).toContain(`  when ufw is in charge (otherFirewall: manage), at the top of ufw's user rules:\n${ufw.map((u) => `    ${u}`).join("\n")}\n`);
    const md = run(["--dir", out, "--no-record", "--format", "markdown"]).stdout;
    expect(md).toContain(`# when ufw is in charge (otherFirewall: manage), at the top of ufw's user rules\n${ufw.join("\n")}\n`);
    expect(json(["--dir", out, "--no-record"]).stacks[0].constructs[0].groups[0].ufwRules).toEqual(ufw);
  });

  test("GIVEN no manage policy THEN no ufw rules anywhere", () => {
    const { out } = project();
    synthTo(out, { fleet: FLEET });
    expect(run(["--dir", out, "--no-record"]).stdout).not.toContain("ufw");
    expect(json(["--dir", out, "--no-record"]).stacks[0].constructs[0].groups[0]).not.toHaveProperty("ufwRules");
  });
});
