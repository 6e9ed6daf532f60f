import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import {
  CDKTN_OVERRIDES,
  CDKTN_VERSION,
  ROOT,
  bareProject,
  cdktnProject,
  cdktnTemplate,
  mustRun,
  packTarball,
  run,
  stackJson,
} from "../support/consumer";

/**
 * The second target: a CDK Terrain app (the community fork of CDKTF, package `cdktn`). The library imports from
 * "cdktf"; the app's package.json maps that name to cdktn with npm `overrides` (CDKTN_OVERRIDES), so one core is
 * installed, CDK Terrain's, and the library's constructs are built on it. The project is laid out as
 * `cdktn init --template=typescript` makes it, from cdktn-cli's own template, but the cdktn CLI is never run: it
 * needs Node 22 and this machine (and CI) has Node 20. What `cdktn synth` runs is the app command of cdktf.json
 * (`npx ts-node main.ts`), and that is run here, as is `tsc` then `node main.js`.
 */
jest.setTimeout(5 * 60_000);

const TERRAFORM_ENV = { TF_CLI_CONFIG_FILE: join(ROOT, "terraform.rc") };
/** The app; `cdktn` is replaced by `cdktf` for the same app under cdktf 0.21. */
const MAIN_TS = `import { Construct } from "constructs";
import { App, ITerraformDependable, TerraformOutput, TerraformResource, TerraformStack } from "cdktn";
import { LocalPort, LoopbackPolicy, Persistence } from "cdktf-loopback-policy";

export class MyStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const policy = new LoopbackPolicy(this, "loopback", {
      resourceType: "terraform_data",
      persistence: Persistence.netfilterPersistent(),
      hosts: [
        { name: "web-1", address: "10.0.0.5" },
        { name: "db-1", address: "10.0.0.6", policy: { localOnlyPorts: [LocalPort.tcp(5432), "tcp/6379"] } },
      ],
    });
    // The library's resource (declared with the library's "cdktf" types) where the app's CDK Terrain types are expected.
    const resource: TerraformResource = policy.resource;
    const dependable: ITerraformDependable = policy.resource;
    new TerraformOutput(this, "loopback_resource", { value: resource.fqn, description: dependable.fqn });
  }
}

const app = new App();
new MyStack(app, "terrain");
app.synth();
`;
/** The default resourceType (null_resource) under CDK Terrain, with @cdktf/provider-null installed. */
const NULL_RESOURCE_JS = `
  const { App, TerraformStack } = require("cdktn");
  const { LoopbackPolicy, LoopbackPolicyError } = require("cdktf-loopback-policy");
  try { new LoopbackPolicy(new TerraformStack(new App({ outdir: process.argv[1] }), "s"), "l", { hosts: [{ name: "a", address: "10.0.0.1" }] }); }
  catch (e) { console.log(String(e instanceof LoopbackPolicyError) + " " + e.field + " " + e.name + ": " + e.message); process.exit(3); }`;
/** cdktn's own Testing helpers over the library. */
const TESTING_JS = `
  const { Testing } = require("cdktn");
  const { LoopbackPolicy } = require("cdktf-loopback-policy");
  const synthesized = Testing.synthScope((scope) => {
    new LoopbackPolicy(scope, "loopback", { resourceType: "terraform_data", hosts: [{ name: "web-1", address: "10.0.0.5" }] });
  });
  console.log(Testing.toHaveResourceWithProperties(synthesized, "terraform_data", { lifecycle: { create_before_destroy: true } }), JSON.parse(synthesized).locals.loopback_hosts["web-1"].address);`;

let tarball: string;
let packDir: string;
let template: string;
let project: string;
/** What node main.js synthesized in (a), which (b), (c) and (d) read. */
let synthOut: string;
const work: string[] = [];

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  work.push(d);
  return d;
}

/** The stack JSON, without what names the core and the directory: metadata's version, the local backend's path. */
function comparable(outdir: string, stack: string): unknown {
  const json = JSON.parse(readFileSync(join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));
  delete json["//"].metadata.version;
  delete json.terraform.backend.local.path;
  return json;
}

/** The core's version the stack's metadata records (the App's package version). */
function coreVersion(outdir: string): string {
  return JSON.parse(readFileSync(join(outdir, "stacks", "terrain", "cdk.tf.json"), "utf8"))["//"].metadata.version;
}

/** The name and version of each `cdktf` and `cdktn` directory installed in a project. */
function cores(dir: string): string[] {
  const ls = run("npm", ["ls", "cdktf", "cdktn", "--all", "--parseable"], dir);
  return [...new Set(ls.output.split("\n").filter((l) => /node_modules\/(cdktf|cdktn)$/.test(l.trim())))]
    .map((d) => {
      const pkg = JSON.parse(readFileSync(join(d.trim(), "package.json"), "utf8"));
      return `${d.trim().slice(dir.length + 1)} = ${pkg.name}@${pkg.version}`;
    })
    .sort();
}

beforeAll(() => {
  tarball = packTarball();
  packDir = dirname(tarball);
  template = cdktnTemplate(packDir);
  project = cdktnProject(template, tarball, "terrain", ["@cdktf/provider-null@11.0.1"]);
  writeFileSync(join(project, "main.ts"), MAIN_TS);
});

afterAll(() => {
  if (process.env.LBP_KEEP_WORK) return;
  for (const d of [project, packDir, ...work]) if (d) rmSync(d, { recursive: true, force: true });
});

/** Two hosts, two policies (db-1's local-only ports make its own), one terraform_data carrying both. */
function expectTerrainStack(outdir: string): void {
  const json = stackJson(outdir, "terrain");
  expect(Object.keys(json.resource)).toEqual(["terraform_data"]);
  expect(Object.keys(json.resource.terraform_data)).toEqual(["loopback"]);
  const hosts = json.locals.loopback_hosts as Record<string, { address: string; policy: string }>;
  expect(Object.keys(hosts).sort()).toEqual(["db-1", "web-1"]);
  expect(hosts["web-1"].address).toBe("10.0.0.5");
  const scripts = json.locals.loopback_policy_scripts as Record<string, string>;
  expect(Object.keys(scripts).sort()).toEqual([hosts["db-1"].policy, hosts["web-1"].policy].sort());
  expect(hosts["db-1"].policy).not.toBe(hosts["web-1"].policy);
  expect(scripts[hosts["db-1"].policy]).toContain("5432");
  expect(json.locals.loopback_engine).toContain("lbp_diff");
}

describe("GIVEN a project made as cdktn init --template=typescript makes it, cdktf mapped to cdktn by npm overrides, with the package installed", () => {
  test("THEN the only core installed is CDK Terrain's: cdktf in the tree is the package cdktn, for the library and for @cdktf/provider-null, and npm reports no conflict", () => {
    expect(JSON.parse(readFileSync(join(project, "package.json"), "utf8")).overrides).toEqual(CDKTN_OVERRIDES);
    expect(cores(project)).toEqual([`node_modules/cdktf = cdktn@${CDKTN_VERSION}`, `node_modules/cdktn = cdktn@${CDKTN_VERSION}`]);
    expect(run("npm", ["ls", "--all"], project).status).toBe(0);
    const ls = run("npm", ["ls", "constructs", "--all", "--parseable"], project);
    expect(ls.output.split("\n").filter((l) => l.endsWith("node_modules/constructs"))).toHaveLength(1);
  });

  test("(a) tsc type-checks the app (the template's tsconfig, with skipLibCheck off: the library's and the cores' declarations too) and node main.js synthesizes two hosts with two policies", () => {
    const tsc = run(join(project, "node_modules", ".bin", "tsc"), ["--skipLibCheck", "false"], project);
    expect(tsc.output.split("\n").filter((l) => /error TS/.test(l))).toEqual([]);
    expect(tsc.status).toBe(0);
    synthOut = tempDir("lbp-cdktn-out-");
    mustRun("node", ["main.js"], project, { CDKTF_OUTDIR: synthOut });
    expectTerrainStack(synthOut);
    expect(coreVersion(synthOut)).toBe(CDKTN_VERSION);
  });

  test("(b) the app command `cdktn synth` runs (cdktf.json's app, npx ts-node main.ts) synthesizes the same JSON (the CLI itself needs Node 22: not run)", () => {
    const app = JSON.parse(readFileSync(join(project, "cdktf.json"), "utf8")).app;
    expect(app).toBe("npx ts-node main.ts");
    const viaApp = tempDir("lbp-cdktn-app-");
    mustRun("sh", ["-c", app], project, { CDKTF_OUTDIR: viaApp });
    expect(readFileSync(join(viaApp, "stacks", "terrain", "cdk.tf.json"), "utf8")).toBe(readFileSync(join(synthOut, "stacks", "terrain", "cdk.tf.json"), "utf8"));
  });

  test("(c) the same app under cdktf 0.21 synthesizes the same stack JSON, but for the metadata's core version and the local backend's path (the project directory)", () => {
    const main = readFileSync(join(project, "main.js"), "utf8");
    expect(main).toContain('require("cdktn")');
    const cdktf = bareProject("same-app-cdktf", ["cdktf@0.21.0", "constructs@10", tarball]);
    work.push(cdktf);
    writeFileSync(join(cdktf, "main.js"), main.split('require("cdktn")').join('require("cdktf")'));
    const cdktfOut = tempDir("lbp-cdktf-cmp-");
    mustRun("node", ["main.js"], cdktf, { CDKTF_OUTDIR: cdktfOut });
    expect(coreVersion(cdktfOut)).toBe("0.21.0");
    expect(comparable(synthOut, "terrain")).toEqual(comparable(cdktfOut, "terrain"));
  });

  test("(d) terraform init -backend=false and terraform validate accept the stack; loopback-review reads the output", () => {
    const stackDir = join(synthOut, "stacks", "terrain");
    mustRun("terraform", ["init", "-input=false", "-backend=false"], stackDir, TERRAFORM_ENV);
    expect(mustRun("terraform", ["validate", "-no-color"], stackDir, TERRAFORM_ENV)).toContain("Success! The configuration is valid.");
    const reviewed = run("npx", ["--no-install", "loopback-review", "--dir", synthOut, "--no-record"], project, { NODE_OPTIONS: "" });
    expect(reviewed.output).toContain("web-1");
    expect(reviewed.output).toContain("db-1");
    expect(reviewed.status).toBe(0);
  });

  test("(e) cdktn's Testing.synthScope and toHaveResourceWithProperties work on the library's constructs", () => {
    expect(mustRun("node", ["-e", TESTING_JS], project).trim()).toBe("true 10.0.0.5");
  });

  test("WHEN the default resourceType (null_resource) is used, with @cdktf/provider-null installed, THEN a typed LoopbackPolicyError on resourceType says it is built for cdktf and to use terraform_data", () => {
    const r = run("node", ["-e", NULL_RESOURCE_JS, tempDir("lbp-cdktn-null-")], project);
    expect(r.output).not.toContain("TypeError");
    expect(r.status).toBe(3);
    expect(r.output).toContain("true resourceType LoopbackPolicyError: resourceType:");
    expect(r.output).toContain("CDK Terrain (cdktn)");
    expect(r.output).toContain("@cdktf/provider-null, which is built for cdktf");
    expect(r.output).toContain('Fix: set resourceType: "terraform_data"');
  });
});

describe("GIVEN a CDK Terrain project WITHOUT the overrides (why they are needed)", () => {
  test("THEN npm installs cdktf 0.21 beside cdktn for the library's peer dependency, and the synth fails inside cdktn: the library's constructs are cdktf's", () => {
    const bare = bareProject("terrain-no-overrides", ["cdktn@" + CDKTN_VERSION, "constructs@>=10.6.0 <10.8.0", tarball]);
    work.push(bare);
    expect(cores(bare)).toEqual(["node_modules/cdktf = cdktf@0.21.0", `node_modules/cdktn = cdktn@${CDKTN_VERSION}`]);
    writeFileSync(join(bare, "main.js"), readFileSync(join(project, "main.js"), "utf8"));
    const r = run("node", ["main.js"], bare, { CDKTF_OUTDIR: tempDir("lbp-cdktn-dual-") });
    expect(r.status).not.toBe(0);
    expect(r.output).toContain("_resetResolveDiscoveredProviderFeatureUsage is not a function");
  });
});
