import { mkdtempSync, readFileSync, readdirSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ROOT, mustRun } from "../support/consumer";

/**
 * The jsii side of the package: the assembly `npm run build` writes (.jsii) holds exactly the construct API, and
 * jsii-pacmak generates every cdktf language from it. On this machine only `--code-only` can run (the Python,
 * Maven, NuGet and Go module registries are unreachable, and no Java, .NET or Go toolchain is installed), so what
 * is checked is what can be: the generated Python parses and reads as Python, and each language's sources exist.
 */
jest.setTimeout(5 * 60_000);

let out: string;
let python: string;

beforeAll(() => {
  mustRun("node", ["scripts/build.js"], ROOT);
  out = mkdtempSync(join(tmpdir(), "lbp-bindings-"));
  mustRun(join(ROOT, "node_modules", ".bin", "jsii-pacmak"), ["--code-only", "--outdir", out], ROOT, { JSII_SILENCE_SUPPORT_WARNING: "1" });
  python = readFileSync(join(out, "python", "src", "cdktf_loopback_policy", "__init__.py"), "utf8");
});

afterAll(() => {
  if (out && !process.env.LBP_KEEP_WORK) rmSync(out, { recursive: true, force: true });
});

test("the assembly's types are the construct API, nothing of the planner, renderer or tools", () => {
  const assembly = JSON.parse(readFileSync(join(ROOT, ".jsii"), "utf8"));
  expect(Object.keys(assembly.types).sort()).toEqual([
    "cdktf-loopback-policy.BastionSpec",
    "cdktf-loopback-policy.ConnectionSpec",
    "cdktf-loopback-policy.FleetSpec",
    "cdktf-loopback-policy.HostSetSpec",
    "cdktf-loopback-policy.HostSpec",
    "cdktf-loopback-policy.LocalPort",
    "cdktf-loopback-policy.LogOptions",
    "cdktf-loopback-policy.LoopbackPolicy",
    "cdktf-loopback-policy.LoopbackPolicyProps",
    "cdktf-loopback-policy.Persistence",
    "cdktf-loopback-policy.PersistencePaths",
    "cdktf-loopback-policy.PolicyOptions",
    "cdktf-loopback-policy.RolloutSpec",
  ]);
  // provider-null is an optional peer for npm (only null_resource, the default, loads it); the jsii languages get
  // it as a dependency, so their default works out of the box.
  expect(assembly.dependencies).toEqual({ "@cdktf/provider-null": "^11.0.1", cdktf: "^0.21.0", constructs: "^10.4.2" });
});

test("every language's sources are generated", () => {
  expect(readdirSync(out).sort()).toEqual(["dotnet", "go", "java", "js", "python"]);
  expect(readdirSync(join(out, "go", "loopbackpolicy"))).toContain("LoopbackPolicy.go");
  const java = mustRun("find", [join(out, "java"), "-name", "LoopbackPolicy.java"], ROOT);
  expect(java.trim()).not.toBe("");
});

test("the generated Python parses, and the construct takes snake_case keyword arguments", () => {
  const files = mustRun("find", [join(out, "python"), "-name", "*.py"], ROOT).trim().split("\n");
  expect(files.length).toBeGreaterThan(0);
  mustRun("python3", ["-c", "import ast,sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)", ...files], ROOT);
  const init = /class LoopbackPolicy\([^)]*\):[\s\S]*?def __init__\(([\s\S]*?)\) -> None:/.exec(python);
  expect(init).not.toBeNull();
  const params = init![1].split("\n").map((l) => l.trim().split(":")[0]).filter((p) => /^\w+$/.test(p));
  expect(params).toEqual(expect.arrayContaining(["scope", "id", "hosts", "connection", "local_only_ports", "anti_spoofing", "rollback_seconds", "resource_type", "persistence"]));
  expect(python).toMatch(/def tcp_range\(\s*cls,\s*from_port: jsii\.Number,\s*to_port: jsii\.Number/);
  // No name a Python user would have to write with a trailing underscore (jsii renames reserved words that way).
  expect(python).not.toMatch(/\bfrom_\b|\bto_\b(?!port)/);
});

test("API.md is what jsii-docgen makes of the current API (regenerate with npm run docs:api)", () => {
  const file = join(out, "API.md");
  mustRun(join(ROOT, "node_modules", ".bin", "jsii-docgen"), ["--output", file], ROOT, { JSII_SILENCE_SUPPORT_WARNING: "1" });
  expect(readFileSync(join(ROOT, "API.md"), "utf8")).toBe(readFileSync(file, "utf8"));
});
