import { spawnSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join, relative } from "path";

/**
 * `npm run synth` (scripts/synth.js) runs cdktf.json's app as the cdktf CLI does, without the CLI's start-up.
 * These tests hold it to the CLI: the same files, byte for byte; stale stacks removed; errors passed through.
 */
jest.setTimeout(120_000);

const ROOT = join(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "lbp-synth-cli-"));

function npmSynth(out: string, fleet?: string, extra: string[] = []) {
  return spawnSync("npm", ["run", "--silent", "synth", "--", "--output", out, ...extra], {
    cwd: ROOT, encoding: "utf8", env: { ...process.env, LOOPBACK_FLEET: fleet ?? "" },
  });
}

/** Every file under dir, by relative path, with its content. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

const sharded = join(work, "sharded.json");
const example = JSON.parse(readFileSync(join(ROOT, "examples", "fleet.json"), "utf8"));
writeFileSync(sharded, JSON.stringify({ ...example, stack: "lbp", sharding: { maxHostsPerStack: 2 } }));

test("GIVEN the example fleet and a sharded one THEN npm run synth writes exactly what npx cdktf synth writes", () => {
  for (const fleet of [undefined, sharded]) {
    const ours = join(work, `ours-${fleet ? "sharded" : "example"}`);
    const cli = join(work, `cli-${fleet ? "sharded" : "example"}`);
    const a = npmSynth(ours, fleet);
    expect(a.stderr.replace(/npm warn.*\n/g, "")).toBe("");
    expect(a.status).toBe(0);
    const b = spawnSync("bash", [join(ROOT, "scripts", "cdktf.sh"), "synth", "--output", cli], {
      cwd: ROOT, encoding: "utf8", env: { ...process.env, LOOPBACK_FLEET: fleet ?? "" },
    });
    expect(b.status).toBe(0);
    const [mine, theirs] = [files(ours), files(cli)];
    expect(Object.keys(mine).sort()).toEqual(Object.keys(theirs).sort());
    expect(Object.keys(mine).filter((f) => f.endsWith("cdk.tf.json")).length).toBe(fleet ? 2 : 1);
    for (const f of Object.keys(theirs)) expect([f, mine[f]]).toEqual([f, theirs[f]]);
  }
});

test("GIVEN a sharded synth WHEN the fleet is synthesized unsharded into the same directory THEN the stale stacks are removed", () => {
  const out = join(work, "reuse");
  expect(npmSynth(out, sharded).status).toBe(0);
  expect(readdirSync(join(out, "stacks")).sort()).toEqual(["lbp-1", "lbp-2"]);
  const r = npmSynth(out);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("Generated Terraform code for the stacks: loopback");
  expect(readdirSync(join(out, "stacks"))).toEqual(["loopback"]);
});

test("GIVEN an invalid fleet THEN exit 2 with the error naming the field, and no stack written", () => {
  const bad = join(work, "bad.json");
  writeFileSync(bad, JSON.stringify({ ...example, antiSpoofing: "maybe" }));
  const out = join(work, "bad-out");
  const r = npmSynth(out, bad);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/loopback-policy: invalid fleet: .*antiSpoofing/);
  expect(existsSync(out) ? Object.keys(files(out)) : []).toEqual([]);
});

test("GIVEN an unknown argument THEN exit 2 saying how to call it", () => {
  const r = npmSynth(join(work, "x"), undefined, ["--hcl"]);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/synth: unknown argument --hcl\. Fix: npm run synth \[-- --output DIR\]/);
});

describe("cdktf.json's app (scripts/app.js: main.ts transpiled once, then from a cache)", () => {
  const app = (out: string, extraEnv: Record<string, string> = {}, command = ["scripts/app.js"]) =>
    spawnSync("node", command, { cwd: ROOT, encoding: "utf8", env: { ...process.env, LOOPBACK_FLEET: sharded, CDKTF_OUTDIR: out, ...extraEnv } });

  test("THEN it writes what ts-node --transpile-only main.ts writes, byte for byte", () => {
    const [ours, tsNode] = [join(work, "app-ours"), join(work, "app-ts-node")];
    expect(app(ours).status).toBe(0);
    expect(app(tsNode, {}, [join(ROOT, "node_modules", ".bin", "ts-node"), "--transpile-only", "main.ts"]).status).toBe(0);
    expect(files(ours)).toEqual(files(tsNode));
  });

  test("GIVEN a warm cache THEN TypeScript is not even loaded", () => {
    expect(app(join(work, "warm-1")).status).toBe(0);
    const guard = join(work, "no-typescript.js");
    writeFileSync(guard, `const M = require("module"); const load = M._load;
M._load = function (request, ...rest) { if (request === "typescript") throw new Error("typescript was loaded"); return load.call(this, request, ...rest); };`);
    const r = app(join(work, "warm-2"), { NODE_OPTIONS: `--require ${guard}` });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(files(join(work, "warm-2"))).toEqual(files(join(work, "warm-1")));
  });
});

test("GIVEN a cache directory that cannot be written THEN the app still synthesizes (transpiling in memory)", () => {
  // A file where the cache directory should be: mkdir fails as it would on a read-only node_modules.
  const project = join(work, "ro-project");
  cpSync(join(ROOT, "scripts"), join(project, "scripts"), { recursive: true });
  for (const f of ["main.ts", "tsconfig.json"]) cpSync(join(ROOT, f), join(project, f));
  for (const d of ["lib", "examples"]) symlinkSync(join(ROOT, d), join(project, d));
  const nm = join(project, "node_modules");
  mkdirSync(nm);
  for (const e of readdirSync(join(ROOT, "node_modules"))) if (e !== ".cache") symlinkSync(join(ROOT, "node_modules", e), join(nm, e));
  writeFileSync(join(nm, ".cache"), "not a directory");
  const out = join(work, "ro-out");
  const r = spawnSync("node", [join(project, "scripts", "app.js")], { cwd: project, encoding: "utf8", env: { ...process.env, LOOPBACK_FLEET: "", CDKTF_OUTDIR: out } });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(Object.keys(files(out))).toContain(join("stacks", "loopback", "cdk.tf.json"));
});

test("GIVEN the app adds a warning and an error annotation THEN npm run synth prints them as the CLI does and fails", () => {
  // A copy of the project whose main.ts annotates its stack.
  const project = join(work, "annotated");
  cpSync(join(ROOT, "scripts"), join(project, "scripts"), { recursive: true });
  for (const f of ["cdktf.json", "tsconfig.json"]) cpSync(join(ROOT, f), join(project, f));
  for (const d of ["lib", "examples", "node_modules"]) symlinkSync(join(ROOT, d), join(project, d));
  writeFileSync(join(project, "main.ts"), `import { Annotations, App, TerraformStack } from "cdktf";
const app = new App();
const stack = new TerraformStack(app, "annotated");
Annotations.of(stack).addWarning("a warning");
Annotations.of(stack).addError("an error");
app.synth();
`);
  const r = spawnSync("node", [join(project, "scripts", "synth.js")], { cwd: project, encoding: "utf8" });
  expect(r.stdout).toContain("WARN [annotated]: a warning");
  expect(r.stdout).toContain("ERROR [annotated]: an error");
  expect(r.stderr).toContain("synth: 1 error annotation(s) above");
  expect(r.status).toBe(1);
});
