import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ROOT, consumerProject, mustRun, packTarball, run, stackJson } from "../support/consumer";

/**
 * The package as a user installs it: `npm pack`, then a fresh project laid out as `cdktf init
 * --template=typescript` makes it, with the tarball installed, used every way a cdktf user runs an app.
 * Nothing here reads this repository's sources: only the tarball.
 */
jest.setTimeout(10 * 60_000);

const CDKTF = join(ROOT, "node_modules", ".bin", "cdktf");
const TERRAFORM_ENV = { TF_CLI_CONFIG_FILE: join(ROOT, "terraform.rc") };
const MAIN_TS = `import { Construct } from "constructs";
import { App, TerraformStack } from "cdktf";
import { LocalPort, LoopbackPolicy, Persistence } from "cdktf-loopback-policy";

export class MyStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new LoopbackPolicy(this, "loopback", {
      resourceType: "terraform_data",
      persistence: Persistence.netfilterPersistent(),
      hosts: [
        { name: "web-1", address: "10.0.0.5" },
        { name: "db-1", address: "10.0.0.6", policy: { localOnlyPorts: [LocalPort.tcp(5432), "tcp/6379"] } },
      ],
    });
  }
}

const app = new App();
new MyStack(app, "consumer");
app.synth();
`;
const APP_JS = `"use strict";
const { App, TerraformStack } = require("cdktf");
const { LoopbackPolicy } = require("cdktf-loopback-policy");

const app = new App({ outdir: process.argv[2] });
const stack = new TerraformStack(app, "consumer");
new LoopbackPolicy(stack, "loopback", {
  resourceType: "terraform_data",
  persistence: "netfilter-persistent",
  hosts: [{ name: "web-1", address: "10.0.0.5" }, { name: "db-1", address: "10.0.0.6", policy: { localOnlyPorts: ["tcp/5432", "tcp/6379"] } }],
});
app.synth();
`;
const MAIN_TEST = `import "cdktf/lib/testing/adapters/jest";
import { DataResource, Testing } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyError } from "cdktf-loopback-policy";

describe("the loopback policy", () => {
  it("synthesizes one terraform_data with every host", () => {
    const synthesized = Testing.synthScope((scope) => {
      new LoopbackPolicy(scope, "loopback", { resourceType: "terraform_data", hosts: [{ name: "web-1", address: "10.0.0.5" }] });
    });
    expect(synthesized).toHaveResourceWithProperties(DataResource, { lifecycle: { create_before_destroy: true } });
    expect(JSON.parse(synthesized).locals.loopback_hosts["web-1"].address).toBe("10.0.0.5");
  });

  it("refuses a bad address with a typed error naming the field", () => {
    const bad = () => Testing.synthScope((scope) => {
      new LoopbackPolicy(scope, "loopback", { resourceType: "terraform_data", hosts: [{ name: "web-1", address: "10.0.0.300" }] });
    });
    expect(bad).toThrow(LoopbackPolicyError);
    expect(bad).toThrow(/hosts\\[0\\]\\.address/);
  });
});
`;
const STRICT_TSCONFIG = {
  extends: "./tsconfig.json",
  compilerOptions: { noEmit: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, isolatedModules: true, skipLibCheck: false },
};
const TOOLS_TS = `import { readSynthOut, review } from "cdktf-loopback-policy/tools";
import { planRules, validateFleet } from "cdktf-loopback-policy/core";

const fleet = validateFleet({ hosts: [{ name: "a", address: "10.0.0.1" }] });
const first = fleet.hosts[0];
if (first) console.log(planRules(first.policy).ipv4.length > 0, typeof readSynthOut, typeof review);
`;

let tarball: string;
let project: string;

beforeAll(() => {
  tarball = packTarball();
  project = consumerProject(tarball, "consumer");
  writeFileSync(join(project, "main.ts"), MAIN_TS);
  writeFileSync(join(project, "app.js"), APP_JS);
  writeFileSync(join(project, "__tests__", "main-test.ts"), MAIN_TEST);
  writeFileSync(join(project, "tsconfig.strict.json"), JSON.stringify(STRICT_TSCONFIG, null, 2));
});

afterAll(() => {
  if (process.env.LBP_KEEP_WORK) return;
  for (const d of [project, tarball && join(tarball, "..")]) if (d) rmSync(d, { recursive: true, force: true });
});

/** The facts of the stack every variant synthesizes: two hosts, their addresses, db-1's local-only ports. */
function expectConsumerStack(outdir: string): void {
  const json = stackJson(outdir, "consumer");
  expect(Object.keys(json.resource.terraform_data)).toEqual(["loopback"]);
  const hosts = json.locals.loopback_hosts as Record<string, { address: string; policy: string }>;
  expect(Object.keys(hosts).sort()).toEqual(["db-1", "web-1"]);
  expect(hosts["db-1"].address).toBe("10.0.0.6");
  expect(hosts["db-1"].policy).not.toBe(hosts["web-1"].policy);
  const scripts = json.locals.loopback_policy_scripts as Record<string, string>;
  expect(scripts[hosts["db-1"].policy]).toContain("5432");
  expect(scripts[hosts["db-1"].policy]).toContain("6379");
  expect(json.locals.loopback_engine).toContain("lbp_diff");
}

describe("GIVEN the packed tarball", () => {
  test("THEN it holds the compiled library, its engine, the CLIs, the jsii assembly and the docs, and no tests, lab or CI", () => {
    const listing = mustRun("tar", ["-tzf", tarball], ROOT).split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
    for (const f of ["dist/index.js", "dist/index.d.ts", "dist/core.js", "dist/tools.js", "dist/render/engine.sh", "bin/loopback-review.js", "bin/loopback-check.js", ".jsii", "LICENSE", "CHANGELOG.md", "API.md", "README.md"]) {
      expect(listing).toContain(f);
    }
    expect(listing.filter((f) => /^(__tests__|lab|bench|\.ci|scripts|examples|lib)\/|terraform\.rc$|\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(project, "node_modules", "cdktf-loopback-policy", "package.json"), "utf8"));
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.peerDependencies).toMatchObject({ cdktf: "^0.21.0", constructs: "^10.4.2" });
  });

  test("THEN one copy of constructs is installed (a peer dependency, not a pinned second copy)", () => {
    const ls = run("npm", ["ls", "constructs", "--all", "--parseable"], project);
    const copies = ls.output.split("\n").filter((l) => l.endsWith("node_modules/constructs"));
    expect(copies).toHaveLength(1);
  });
});

describe("GIVEN a project made by cdktf init --template=typescript with the package installed", () => {
  test("(a) cdktf synth with the template's app (npx ts-node main.ts) synthesizes the stack, and terraform validate passes", () => {
    const outdir = join(project, "cdktf.out");
    mustRun(CDKTF, ["synth", "--output", outdir], project, TERRAFORM_ENV);
    expectConsumerStack(outdir);
    const stackDir = join(outdir, "stacks", "consumer");
    mustRun("terraform", ["init", "-input=false", "-backend=false"], stackDir, TERRAFORM_ENV);
    expect(mustRun("terraform", ["validate", "-no-color"], stackDir, TERRAFORM_ENV)).toContain("Success! The configuration is valid.");
  });

  test("(b) tsc then node main.js synthesizes the same stack", () => {
    mustRun(join(project, "node_modules", ".bin", "tsc"), [], project);
    const outdir = mkdtempSync(join(tmpdir(), "lbp-consumer-out-"));
    mustRun("node", ["main.js"], project, { CDKTF_OUTDIR: outdir });
    expectConsumerStack(outdir);
  });

  test("(c) a plain CommonJS app (require) synthesizes the same stack", () => {
    const outdir = mkdtempSync(join(tmpdir(), "lbp-consumer-js-"));
    mustRun("node", ["app.js", outdir], project);
    expectConsumerStack(outdir);
  });

  test("(d) jest with the template's jest.config.js and setup.js: Testing.synthScope and toHaveResourceWithProperties", () => {
    const r = run(join(project, "node_modules", ".bin", "jest"), ["--ci", "__tests__/main-test.ts"], project);
    expect(r.output).toMatch(/Tests:\s+2 passed, 2 total/);
    expect(r.status).toBe(0);
  });

  test("(e) a user tsconfig with noUncheckedIndexedAccess, exactOptionalPropertyTypes, isolatedModules and skipLibCheck off type-checks, subpath entry points included", () => {
    writeFileSync(join(project, "tools-use.ts"), TOOLS_TS);
    try {
      const r = run(join(project, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.strict.json"], project);
      expect(r.output.split("\n").filter((l) => /error TS/.test(l) && /cdktf-loopback-policy/.test(l))).toEqual([]);
      expect(r.status).toBe(0);
      expect(mustRun(join(project, "node_modules", ".bin", "ts-node"), ["tools-use.ts"], project).trim()).toBe("true function function");
    } finally {
      rmSync(join(project, "tools-use.ts"), { force: true });
    }
  });

  test("(f) npx loopback-review reviews the synthesized stack and npx loopback-check --help answers, from compiled JavaScript (no ts-node)", () => {
    const outdir = join(project, "cdktf.out");
    const env = { NODE_OPTIONS: "" };
    const reviewed = run("npx", ["--no-install", "loopback-review", "--dir", outdir, "--no-record"], project, env);
    expect(reviewed.output).toContain("web-1");
    expect(reviewed.output).toContain("db-1");
    expect(reviewed.status).toBe(0);
    const help = run("npx", ["--no-install", "loopback-check", "--help"], project, env);
    expect(help.status).toBe(0);
    expect(help.output).toMatch(/loopback-check/);
    // What the CLIs load: the package's dist/, never a TypeScript source.
    expect(readFileSync(join(project, "node_modules", "cdktf-loopback-policy", "bin", "load.js"), "utf8")).toContain('"dist"');
  });

  test("WHEN the default resourceType (null_resource) is used without @cdktf/provider-null THEN a typed error names the field and both fixes", () => {
    const r = run("node", ["-e", `
      const { App, TerraformStack } = require("cdktf");
      const { LoopbackPolicy } = require("cdktf-loopback-policy");
      try { new LoopbackPolicy(new TerraformStack(new App(), "s"), "l", { hosts: [{ name: "a", address: "10.0.0.1" }] }); }
      catch (e) { console.log(e.name + ": " + e.message); process.exit(3); }`], project);
    expect(r.status).toBe(3);
    expect(r.output).toContain("LoopbackPolicyError: resourceType:");
    expect(r.output).toContain("npm install @cdktf/provider-null@^11");
    expect(r.output).toContain('resourceType: "terraform_data"');
  });
});
