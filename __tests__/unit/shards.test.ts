import { spawnSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, Testing } from "cdktf";
import { addFleetStacks } from "../../lib/app/fleet-app";
import { FleetFile, loadFleetFile } from "../../lib/app/fleet-file";
import { checkBackend, schemaName } from "../../lib/app/backend";
import { Shard, shardFleet } from "../../lib/app/shards";
import { errorOf } from "../support/validation";

const ROOT = join(__dirname, "..", "..");
const host = (name: string, labels?: Record<string, string>) => ({ name, address: `${name}.example.com`, ...(labels ? { labels } : {}) });
const hosts = (n: number, labels?: (i: number) => Record<string, string>) => Array.from({ length: n }, (_, i) => host(`h-${i + 1}`, labels?.(i)));
const layout = (shards: Shard[]) => shards.map((s) => [s.stackName, s.props.hosts!.map((h) => h.name)]);
/** Which stack each host is in. */
const placement = (shards: Shard[]) => Object.fromEntries(shards.flatMap((s) => s.props.hosts!.map((h) => [h.name, s.stackName])));

/** Synthesize a fleet file as main.ts does (into a temp outdir); returns each stack's cdk.tf.json. */
function synthApp(file: object, baseDir = "/srv/fleet"): Record<string, any> {
  const outdir = mkdtempSync(join(tmpdir(), "lbp-shards-"));
  try {
    const app = new App({ outdir });
    addFleetStacks(app, file as FleetFile, "fleet.json", baseDir);
    app.synth();
    const dir = join(outdir, "stacks");
    return Object.fromEntries(readdirSync(dir).map((s) => [s, JSON.parse(readFileSync(join(dir, s, "cdk.tf.json"), "utf8"))]));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe("shardFleet: which hosts go to which stack", () => {
  test("GIVEN no sharding THEN one stack named after `stack`, with every host and the layout fields stripped", () => {
    const file = { stack: "fleet", backend: { type: "pg" }, resourceType: "terraform_data", ipv6: "off", hosts: hosts(3) } as FleetFile;
    const [only, ...rest] = shardFleet(file);
    expect(rest).toEqual([]);
    expect(only.stackName).toBe("fleet");
    expect(only.props).toEqual({ resourceType: "terraform_data", ipv6: "off", hosts: hosts(3) });
    expect(shardFleet({ hosts: hosts(1) })[0].stackName).toBe("loopback");
  });

  test("GIVEN maxHostsPerStack THEN chunks in fleet order, <stack>-1.., every other prop on every shard", () => {
    const file = { rollbackSeconds: 10, connection: { user: "ops" }, sharding: { maxHostsPerStack: 2 }, hosts: hosts(5) } as FleetFile;
    const shards = shardFleet(file);
    expect(layout(shards)).toEqual([
      ["loopback-1", ["h-1", "h-2"]],
      ["loopback-2", ["h-3", "h-4"]],
      ["loopback-3", ["h-5"]],
    ]);
    for (const s of shards) expect(s.props).toEqual({ rollbackSeconds: 10, connection: { user: "ops" }, hosts: s.props.hosts });
    expect(shards[2].hostIndexes).toEqual([4]);
  });

  test("THEN the names do not depend on the host count: one host still goes to <stack>-1", () => {
    expect(layout(shardFleet({ sharding: { maxHostsPerStack: 500 }, hosts: hosts(1) }))).toEqual([["loopback-1", ["h-1"]]]);
  });

  test("GIVEN hosts appended THEN no host changes stack; GIVEN one inserted in the middle THEN one host per later boundary moves", () => {
    const before = placement(shardFleet({ sharding: { maxHostsPerStack: 2 }, hosts: hosts(5) }));
    const appended = placement(shardFleet({ sharding: { maxHostsPerStack: 2 }, hosts: [...hosts(5), host("h-6"), host("h-7")] }));
    for (const [name, stack] of Object.entries(before)) expect([name, appended[name]]).toEqual([name, stack]);
    expect([appended["h-6"], appended["h-7"]]).toEqual(["loopback-3", "loopback-4"]);

    const all = hosts(5);
    const inserted = placement(shardFleet({ sharding: { maxHostsPerStack: 2 }, hosts: [all[0], host("new"), ...all.slice(1)] }));
    const moved = Object.keys(before).filter((n) => inserted[n] !== before[n]);
    expect(moved.map((n) => `${n}: ${before[n]} -> ${inserted[n]}`)).toEqual(["h-2: loopback-1 -> loopback-2", "h-4: loopback-2 -> loopback-3"]);
  });

  test("GIVEN byLabel THEN one stack per value, in the order values first appear, names sanitized", () => {
    const regions = ["eu.west/1", "us", "eu.west/1", "ap:2", "us"];
    const shards = shardFleet({ stack: "lbp", sharding: { byLabel: "region" }, hosts: hosts(5, (i) => ({ region: regions[i] })) });
    expect(layout(shards)).toEqual([
      ["lbp-eu_west_1", ["h-1", "h-3"]],
      ["lbp-us", ["h-2", "h-5"]],
      ["lbp-ap_2", ["h-4"]],
    ]);
    expect(shards[1].hostIndexes).toEqual([1, 4]);
    for (const s of shards) expect(s.stackName).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  test("GIVEN byLabel and maxHostsPerStack THEN each label group in chunks, <stack>-<value>-<n>", () => {
    const shards = shardFleet({ sharding: { byLabel: "region", maxHostsPerStack: 2 }, hosts: hosts(5, (i) => ({ region: i < 3 ? "eu" : "us" })) });
    expect(layout(shards)).toEqual([
      ["loopback-eu-1", ["h-1", "h-2"]],
      ["loopback-eu-2", ["h-3"]],
      ["loopback-us-1", ["h-4", "h-5"]],
    ]);
  });

  test("GIVEN a rollout THEN it reaches every shard untouched, except that each shard's canary holds only its own hosts", () => {
    const rollout = { canary: ["h-1", "h-4"], batchSize: 1, order: ["x"] };
    const shards = shardFleet({ sharding: { maxHostsPerStack: 2 }, rollout, hosts: hosts(5) } as FleetFile);
    expect(shards.map((s) => s.props.rollout)).toEqual([
      { canary: ["h-1"], batchSize: 1, order: ["x"] },
      { canary: ["h-4"], batchSize: 1, order: ["x"] },
      { canary: [], batchSize: 1, order: ["x"] },
    ]);
    const { canary: _c, ...noCanary } = rollout;
    void _c;
    expect(shardFleet({ sharding: { maxHostsPerStack: 2 }, rollout: noCanary, hosts: hosts(3) } as FleetFile).map((s) => s.props.rollout)).toEqual([noCanary, noCanary]);
  });

  test.each<[string, object, string, RegExp]>([
    ["N < 1", { sharding: { maxHostsPerStack: 0 }, hosts: hosts(2) }, "sharding.maxHostsPerStack", /0 is out of range/],
    ["N not a whole number", { sharding: { maxHostsPerStack: "500" }, hosts: hosts(2) }, "sharding.maxHostsPerStack", /"500" is not a whole number/],
    ["unknown field", { sharding: { maxHosts: 5 }, hosts: hosts(2) }, "sharding.maxHosts", /unknown field.*known fields are maxHostsPerStack, byLabel/],
    ["misspelt case", { sharding: { bylabel: "region" }, hosts: hosts(2) }, "sharding.bylabel", /did you mean "byLabel"/],
    ["neither", { sharding: {}, hosts: hosts(2) }, "sharding", /says neither maxHostsPerStack nor byLabel/],
    ["not an object", { sharding: 4, hosts: hosts(2) }, "sharding", /4 is not an object/],
    ["unknown label", { sharding: { byLabel: "regoin" }, hosts: hosts(2, () => ({ region: "eu", role: "web" })) }, "sharding.byLabel", /no host has a label "regoin".*"region", "role"/],
    ["a host without the label", { sharding: { byLabel: "region" }, hosts: [host("a", { region: "eu" }), host("b", { role: "db" })] }, "hosts[1].labels.region", /host "b" has no "region" label.*1 host\(s\) lack it/],
    ["label values giving one stack name", { sharding: { byLabel: "region" }, hosts: [host("a", { region: "eu.1" }), host("b", { region: "eu_1" })] }, "sharding.byLabel", /"eu\.1" and "eu_1" both give the stack name "loopback-eu_1"/],
    ["empty fleet: no shard would have hosts", { sharding: { maxHostsPerStack: 2 }, hosts: [] }, "hosts", /the fleet is empty, so sharding would give stacks without hosts/],
    ["the same host name in two shards", { sharding: { maxHostsPerStack: 1 }, hosts: [host("web-1"), host("WEB-1")] }, "hosts[1].name", /"WEB-1" is already the name of hosts\[0\]/],
    ["a canary that is no host", { sharding: { maxHostsPerStack: 1 }, rollout: { canary: ["h-9"] }, hosts: hosts(2) }, "rollout.canary[0]", /"h-9" is not a host of the fleet/],
    ["a bad stack name", { stack: "1st", sharding: { maxHostsPerStack: 1 }, hosts: hosts(2) }, "stack", /"1st" \(in the fleet file\) is not a usable stack name/],
  ])("%s: a LoopbackPolicyError naming the field and the fix", (_name, file, field, message) => {
    const e = errorOf(() => shardFleet(file as FleetFile));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
    expect(e.fix.length).toBeGreaterThan(10);
  });
});

describe("backends", () => {
  test("GIVEN no backend THEN cdktf's local backend: terraform.<stack>.tfstate in the working directory, per stack", () => {
    const out = synthApp({ resourceType: "terraform_data", sharding: { maxHostsPerStack: 2 }, hosts: hosts(3) });
    expect(Object.keys(out).sort()).toEqual(["loopback-1", "loopback-2"]);
    for (const [name, json] of Object.entries(out)) {
      expect(json.terraform.backend).toEqual({ local: { path: join(process.cwd(), `terraform.${name}.tfstate`) } });
    }
    const local = synthApp({ resourceType: "terraform_data", backend: { type: "local" }, hosts: hosts(1) });
    expect(local.loopback.terraform.backend).toEqual({ local: { path: join(process.cwd(), "terraform.loopback.tfstate") } });
  });

  test("GIVEN a local path with {stack} THEN one file per stack, a relative path from the fleet file's directory", () => {
    const out = synthApp({ resourceType: "terraform_data", sharding: { maxHostsPerStack: 1 }, backend: { type: "local", path: "state/{stack}.tfstate" }, hosts: hosts(2) }, "/srv/fleet");
    expect(out["loopback-1"].terraform.backend).toEqual({ local: { path: "/srv/fleet/state/loopback-1.tfstate" } });
    expect(out["loopback-2"].terraform.backend).toEqual({ local: { path: "/srv/fleet/state/loopback-2.tfstate" } });
  });

  test("GIVEN pg without connStr THEN schema_name <prefix><stack> per stack and no conn_str in the JSON", () => {
    const out = synthApp({ resourceType: "terraform_data", stack: "Fleet", sharding: { byLabel: "region" }, backend: { type: "pg" }, hosts: hosts(3, (i) => ({ region: ["eu-west", "us", "eu-west"][i] })) });
    expect(Object.keys(out).sort()).toEqual(["Fleet-eu-west", "Fleet-us"]);
    expect(out["Fleet-eu-west"].terraform.backend).toEqual({ pg: { schema_name: "loopback_fleet_eu_west" } });
    expect(out["Fleet-us"].terraform.backend).toEqual({ pg: { schema_name: "loopback_fleet_us" } });
    for (const json of Object.values(out)) {
      // (cdktf's metadata names the override that removed it: "overrides": { "backend": ["conn_str"] }, no value)
      expect(JSON.stringify(json)).not.toMatch(/"conn_str"\s*:|postgres(ql)?:\/\//i);
      expect(json.terraform.backend.local).toBeUndefined();
    }
  });

  test("GIVEN pg with connStr and a schemaPrefix THEN both in the JSON (the file asked for it)", () => {
    const out = synthApp({ resourceType: "terraform_data", backend: { type: "pg", connStr: "postgres://tf@db.internal/state", schemaPrefix: "lbp_" }, hosts: hosts(1) });
    expect(out.loopback.terraform.backend).toEqual({ pg: { conn_str: "postgres://tf@db.internal/state", schema_name: "lbp_loopback" } });
  });

  test("the JSON of a pg stack is accepted by Terraform's own backend schema (terraform init -backend=false; validate)", () => {
    const outdir = mkdtempSync(join(tmpdir(), "lbp-shards-tf-"));
    try {
      const app = new App({ outdir });
      addFleetStacks(app, { resourceType: "terraform_data", backend: { type: "pg" }, hosts: hosts(1) } as FleetFile, "fleet.json", "/srv");
      app.synth();
      const dir = join(outdir, "stacks", "loopback");
      const env = { ...process.env, PG_CONN_STR: "" };
      const init = spawnSync("terraform", ["init", "-backend=false", "-input=false", "-no-color"], { cwd: dir, encoding: "utf8", env });
      expect(init.stderr).toBe("");
      const validate = spawnSync("terraform", ["validate", "-no-color"], { cwd: dir, encoding: "utf8", env });
      expect(`${validate.stdout}${validate.stderr}`).toContain("The configuration is valid");
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test("schema names: lower case, '-' and anything else outside [a-z0-9_] as '_'", () => {
    expect(schemaName({ schemaPrefix: "loopback_" }, "Fleet-EU_1")).toBe("loopback_fleet_eu_1");
  });

  test.each<[string, unknown, string[], string, RegExp]>([
    ["unknown type", { type: "s3" }, ["a"], "backend.type", /unknown value "s3"/],
    ["not an object", "pg", ["a"], "backend", /"pg" is not an object/],
    ["unknown pg field", { type: "pg", conn_str: "x" }, ["a"], "backend.conn_str", /unknown field.*known fields are type, connStr, schemaPrefix/],
    ["misspelt pg field", { type: "pg", connstr: "x" }, ["a"], "backend.connstr", /did you mean "connStr"/],
    ["empty connStr", { type: "pg", connStr: " " }, ["a"], "backend.connStr", /is not a connection string/],
    ["bad schemaPrefix", { type: "pg", schemaPrefix: "Loop-" }, ["a"], "backend.schemaPrefix", /"Loop-" is not a usable schema name prefix/],
    ["two stacks, one schema", { type: "pg" }, ["fleet-eu", "fleet_eu"], "backend", /stacks "fleet-eu" and "fleet_eu" would share the schema "loopback_fleet_eu"/],
    ["schema too long", { type: "pg" }, ["s".repeat(60)], "backend.schemaPrefix", /longer than PostgreSQL's 63 characters/],
    ["one local path for several stacks", { type: "local", path: "terraform.tfstate" }, ["a", "b"], "backend.path", /every one of the 2 stacks would keep its state in "terraform.tfstate".*\{stack\}/],
    ["local path with ..", { type: "local", path: "../state/{stack}" }, ["a"], "backend.path", /is not a usable state file path/],
    ["unknown local field", { type: "local", dir: "x" }, ["a"], "backend.dir", /unknown field/],
  ])("%s: a LoopbackPolicyError naming the field and the fix", (_name, backend, stacks, field, message) => {
    const e = errorOf(() => checkBackend(backend, stacks, "/srv"));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });
});

describe("the app (main.ts) over a fleet file", () => {
  test("a host's error names its index in the fleet file, whichever stack it falls in", () => {
    const bad = [...hosts(3), { name: "h-4", address: "10.0.0.1/32" }];
    const e = errorOf(() => synthApp({ sharding: { maxHostsPerStack: 2 }, hosts: bad }));
    expect(e.field).toBe("hosts[3].address");
    expect(e.message).toBe('hosts[3].address: "10.0.0.1/32" is a network, not a host address. Fix: did you mean "10.0.0.1"?');
  });

  test("layout fields never reach the construct (it rejects unknown fields); a rollout does, and synthesizes waves per shard", () => {
    const out = synthApp({
      resourceType: "terraform_data", stack: "f", sharding: { maxHostsPerStack: 2 }, backend: { type: "pg" },
      rollout: { canary: ["h-1"], batchSize: 1 }, hosts: hosts(3),
    });
    expect(Object.keys(out["f-1"].resource.terraform_data)).toEqual(["loopback_canary", "loopback_fleet-1"]);
    expect(Object.keys(out["f-2"].resource.terraform_data)).toEqual(["loopback_fleet-1"]);
  });

  test("loadFleetFile (one stack) strips the layout fields too", () => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-shards-file-"));
    const file = join(dir, "fleet.json");
    writeFileSync(file, JSON.stringify({ stack: "s", sharding: { maxHostsPerStack: 3 }, backend: { type: "pg" }, ipv6: "off", hosts: hosts(1) }));
    expect(loadFleetFile(file, "LOOPBACK_FLEET")).toEqual({ stack: "s", props: { ipv6: "off", hosts: hosts(1) } });
    rmSync(dir, { recursive: true, force: true });
  });

  test("main.ts: a sharded fleet synthesizes one stack directory per shard; a bad sharding exits 2 with the field and the fix", () => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-shards-main-"));
    try {
      const file = join(dir, "fleet.json");
      const run = () => spawnSync("npx", ["--no-install", "ts-node", join(ROOT, "main.ts")], {
        cwd: ROOT, encoding: "utf8", env: { ...process.env, LOOPBACK_FLEET: file, CDKTF_OUTDIR: join(dir, "out") }, timeout: 120_000,
      });
      writeFileSync(file, JSON.stringify({ resourceType: "terraform_data", sharding: { maxHostsPerStack: 2 }, backend: { type: "pg" }, hosts: hosts(3) }));
      const ok = run();
      expect(ok.stderr.replace(/npm warn .*\n/g, "")).toBe("");
      expect(ok.status).toBe(0);
      expect(readdirSync(join(dir, "out", "stacks")).sort()).toEqual(["loopback-1", "loopback-2"]);
      expect(existsSync(join(dir, "out", "stacks", "loopback-2", "cdk.tf.json"))).toBe(true);

      writeFileSync(file, JSON.stringify({ sharding: { maxHostsPerStack: 0 }, hosts: hosts(3) }));
      const bad = run();
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("loopback-policy: invalid fleet: sharding.maxHostsPerStack: 0 is out of range. Fix: use a whole number of hosts from 1 to 1000000");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("Testing.synth of a stack built by addFleetStacks carries the pg backend (the jest matchers see it)", () => {
  const app = Testing.app();
  const { stacks } = addFleetStacks(app, { resourceType: "terraform_data", backend: { type: "pg" }, hosts: hosts(1) } as FleetFile, "fleet.json", "/srv");
  expect(JSON.parse(Testing.synth(stacks[0].stack)).terraform.backend).toEqual({ pg: { schema_name: "loopback_loopback" } });
});
