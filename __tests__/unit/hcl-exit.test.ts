import { spawn, spawnSync, SpawnOptions } from "child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { Testing, TerraformLocal, TerraformOutput, TerraformStack } from "cdktf";
import { engineScript } from "../../lib/render/engine";
import { terraformLiteral } from "../../lib/constructs/terraform-text";
import { terraformUnliteral } from "../../lib/contract/unescape";
import { fixLocalHcl, fixOutputHcl } from "../../lib/constructs/hcl-text";

/**
 * The way off the archived cdktf: `cdktf synth --hcl`, then plain Terraform. Its output must be valid HCL that
 * means what the JSON means: the engine, the policy scripts and every other value intact (cdktf 0.21's HCL
 * renderer does not escape strings: see lib/constructs/hcl-text.ts).
 */
jest.setTimeout(120_000);

const ROOT = join(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "lbp-hcl-exit-"));
const ENV = { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };

/** Run a command to its end: its stdout, or an error with (the start of) what it said. Async, so that independent runs overlap. */
function run(command: string, args: string[], options: SpawnOptions & { cwd: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: ENV, ...options, stdio: ["ignore", "pipe", "pipe"] });
    // Terraform spends minutes on a file of thousands of syntax errors (what the HCL was before the fix).
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const [out, err]: Buffer[][] = [[], []];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(" ")} (in ${options.cwd}) ${signal ? `killed after 90 s` : `exited ${code}`}:\n${stdout.slice(0, 5000)}\n${Buffer.concat(err).toString("utf8").slice(0, 5000)}`));
    });
  });
}
const terraform = (dir: string, ...args: string[]) => run("terraform", [...args, "-no-color"], { cwd: dir });

/** Plan a stack directory (its local backend is under `work`), return `terraform show -json` of the plan. */
async function plan(dir: string): Promise<any> {
  await terraform(dir, "init", "-input=false");
  await terraform(dir, "plan", "-input=false", "-lock=false", "-refresh=false", "-out=tfplan");
  return JSON.parse(await terraform(dir, "show", "-json", "tfplan"));
}

/**
 * The destroy-time provisioners' engine expressions, as the HCL writes them: the last element of each such
 * block's `inline` (the block may reference only self, so it carries the engine itself, not the local).
 */
function destroyEngineExpressions(hcl: string): string[] {
  return hcl.split('provisioner "remote-exec" {').slice(1).filter((b) => /\bwhen\s*=\s*destroy\b/.test(b)).map((block) => {
    const m = /"\$\{self\.input\.policy_script\}",\n([\s\S]*?),\s*\]\s*when\s*=\s*destroy/.exec(block);
    if (!m) throw new Error(`no engine found in a destroy-time block:\n${block.slice(0, 2000)}`);
    return m[1];
  });
}

describe("cdktf synth --hcl of a terraform_data fleet (hosts on two policies, a rollout in waves, local-only ports)", () => {
  const fleetPath = join(work, "fleet.json");
  writeFileSync(fleetPath, JSON.stringify({
    stack: "lbp",
    resourceType: "terraform_data",
    backend: { type: "local", path: "state/{stack}.tfstate" },
    connection: { user: "root", privateKeyPath: "~/.ssh/id_ed25519" },
    rollout: { canary: ["web-1"], batchSize: 2 },
    hosts: [
      { name: "web-1", address: "192.0.2.11" },
      { name: "web-2", address: "192.0.2.12" },
      { name: "web-3", address: "192.0.2.13" },
      // A name and a port that look like numbers: they must stay strings, as in the JSON.
      { name: "1234", address: "192.0.2.14", port: 2222, hostKey: ["ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvV5u1m0X+Jg9QO1ZpY6q6M8o0g3n3Yp3T9g1c4xv2k"] },
      {
        name: "db-1", address: "192.0.2.21", user: "deploy", sudo: true,
        policy: { ipv6: "required", localOnlyPorts: ["tcp/5432", "udp/8125", "tcp/9100-9200"], localOnlyAction: "reject", logDrops: true, enforce: "every-apply" },
      },
    ],
  }));
  const hclOut = join(work, "hcl");
  const jsonOut = join(work, "json");
  let hcl = "";

  beforeAll(async () => {
    // The real CLI (it also runs its HCL formatter over the files), and the JSON synth of the same fleet.
    const env = { ...ENV, LOOPBACK_FLEET: fleetPath };
    await Promise.all([
      run(join(ROOT, "node_modules", ".bin", "cdktf"), ["synth", "--hcl", "--output", hclOut], { cwd: ROOT, env }),
      run("node", [join(ROOT, "scripts", "synth.js"), "--output", jsonOut], { cwd: ROOT, env }),
    ]);
    hcl = readFileSync(join(hclOut, "stacks", "lbp", "cdk.tf"), "utf8");
    // Fail fast, with HCL's own diagnostics ("Invalid multi-line string"), when the file does not even parse.
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      await require("@cdktf/hcl2json").parse("cdk.tf", hcl);
    } catch (e) {
      throw new Error(`cdktf synth --hcl wrote HCL that does not parse: ${String(e).slice(0, 1500)}...`);
    }
  });

  test("THEN terraform init -backend=false and terraform validate accept it, without a warning", async () => {
    const dir = join(hclOut, "stacks", "lbp");
    await terraform(dir, "init", "-backend=false", "-input=false");
    const r = spawnSync("terraform", ["validate", "-json", "-no-color"], { cwd: dir, encoding: "utf8", env: ENV });
    const result = JSON.parse(r.stdout);
    expect(result.diagnostics).toEqual([]);
    expect(result).toMatchObject({ valid: true, error_count: 0, warning_count: 0 });
    expect(r.status).toBe(0);
    // Readable: the engine is there line by line, as in engine.sh (formerly mangled into `lbp_fam = $ 1`).
    expect(hcl).toContain("\n  lbp_fam=$1\n");
  });

  test("THEN Terraform reads from it exactly what it reads from the JSON: the engine (also in each destroy-time block), the policy scripts, every resource and output", async () => {
    const json = JSON.parse(readFileSync(join(jsonOut, "stacks", "lbp", "cdk.tf.json"), "utf8"));
    const local = (suffix: string) => Object.keys(json.locals).find((k) => k.endsWith(suffix))!;
    const [engine, scripts, hosts] = [local("_engine"), local("_policy_scripts"), local("_hosts")];

    const hclDir = join(work, "plan-hcl");
    cpSync(join(hclOut, "stacks", "lbp"), hclDir, { recursive: true });
    const destroyEngines = destroyEngineExpressions(hcl);
    writeFileSync(join(hclDir, "zz_probe.tf"), `output "zz_probe" {
  value = {
    engine          = local.${engine}
    scripts         = local.${scripts}
    hosts           = local.${hosts}
    destroy_engines = [
${destroyEngines.join(",\n")}
    ]
  }
}
`);
    const jsonDir = join(work, "plan-json");
    cpSync(join(jsonOut, "stacks", "lbp"), jsonDir, { recursive: true });
    const jsonDestroyEngines = Object.values<any>(json.resource.terraform_data).flatMap((r) =>
      r.provisioner.filter((p: any) => p["remote-exec"].when === "destroy").map((p: any) => p["remote-exec"].inline[3]));
    writeFileSync(join(jsonDir, "zz_probe.tf.json"), JSON.stringify({
      output: { zz_probe: { value: { engine: `\${local.${engine}}`, scripts: `\${local.${scripts}}`, hosts: `\${local.${hosts}}`, destroy_engines: jsonDestroyEngines } } },
    }));

    const [fromHcl, fromJson] = await Promise.all([plan(hclDir), plan(jsonDir)]);
    const probe = fromHcl.planned_values.outputs.zz_probe.value;
    expect(probe.engine).toBe(engineScript());
    expect(destroyEngines.length).toBe(3); // the canary wave and two batches (the enforce resource has no destroy-time block)
    expect(probe.destroy_engines).toEqual(destroyEngines.map(() => engineScript()));
    expect(probe.scripts).toEqual(Object.fromEntries(Object.entries<string>(json.locals[scripts]).map(([k, v]) => [k, terraformUnliteral(v)])));
    expect(Object.keys(probe.scripts)).toHaveLength(2);
    expect(probe.hosts["1234"]).toMatchObject({ name: "1234", port: "2222", sudo: "0" });
    // Everything else too: each host's input (its policy script included), triggers, for_each keys, outputs.
    expect(fromHcl.planned_values).toEqual(fromJson.planned_values);
    expect(fromHcl.resource_changes).toEqual(fromJson.resource_changes);
  });
});

test("GIVEN texts that trip cdktf's HCL renderer (newlines, quotes, backslashes, template sequences, number-like, control characters) THEN the HCL carries them exactly", async () => {
  const texts: Record<string, string> = {
    plain: "plain",
    number: "22",
    zero: "0",
    octal: "007",
    negative: "-1",
    keyword: "true",
    empty: "",
    bracket: "[1, 2]",
    brace: "{ a = 1 }",
    quoted: '"quoted"',
    templates: "${x} %{y} $${z} %%{w} $$${v} $ % $$ {} ${",
    backslashes: 'a\\nb \\" \\\\ \\u0041 \\',
    controls: "tab\there cr\rhere bell\x07 del\x7f",
    multiline: 'line 1\n  ${x} and %{ if y }\n\\ "q" \\n\n\n',
    noFinalNewline: "a\n${b}",
    markers: "EOT\nEOT1\n  EOT2 \nx\n",
    crlf: "a\r\nb\r\n",
    unicode: "é ✓ \u2028 \u{1F600}\n",
  };
  const app = Testing.app();
  const stack = new TerraformStack(app, "texts");
  const literal = Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, terraformLiteral(v)]));
  fixLocalHcl(new TerraformLocal(stack, "texts", literal));
  new TerraformOutput(stack, "from_local", { value: "${local.texts}" });
  fixOutputHcl(new TerraformOutput(stack, "direct", { value: literal }));
  // What the CLI does after the synth: its HCL formatter.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { format } = require("@cdktf/hcl-tools");
  const dir = mkdtempSync(join(work, "texts-"));
  writeFileSync(join(dir, "main.tf"), await format(Testing.synthHcl(stack)));
  const outputs = (await plan(dir)).planned_values.outputs;
  expect(outputs.from_local.value).toEqual(texts);
  expect(outputs.direct.value).toEqual(texts);
});

describe("cdktf synth --hcl of host sets and a token host (their preconditions hold quotes and lazy text)", () => {
  const dir = join(work, "sets");
  const app = join(work, "sets-app.ts");
  writeFileSync(app, `
import { App, TerraformIterator, TerraformStack, TerraformVariable, Token } from ${JSON.stringify(join(ROOT, "node_modules", "cdktf"))};
import { LoopbackPolicy } from ${JSON.stringify(join(ROOT, "lib", "core"))};
const app = new App();
const stack = new TerraformStack(app, "sets");
const fleet = new TerraformVariable(stack, "fleet", { type: "map(object({ address = string, port = optional(number, 22) }))" });
const addr = new TerraformVariable(stack, "addr", { type: "string", default: "192.0.2.9" });
const it = TerraformIterator.fromMap(fleet.value);
new LoopbackPolicy(stack, "loopback", {
  resourceType: "terraform_data",
  hosts: [{ name: "web-1", address: "192.0.2.10" }, { name: "vm-1", address: addr.stringValue }],
  hostSets: [{ name: "web", forEach: it, address: it.getString("address"), port: Token.asNumber(it.getNumber("port")), policy: { localOnlyPorts: ["tcp/5432"], enforce: "every-apply" } }],
});
app.synth();
`);
  const planWith = (stackDir: string, vars: string) => {
    writeFileSync(join(stackDir, "t.auto.tfvars.json"), vars);
    return spawnSync("terraform", ["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"], { cwd: stackDir, env: ENV, encoding: "utf8" });
  };
  let hclDir = "";
  let jsonDir = "";

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    const cdktf = join(ROOT, "node_modules", ".bin", "cdktf");
    const appCmd = `${join(ROOT, "node_modules", ".bin", "ts-node")} --transpile-only --project ${join(ROOT, "tsconfig.json")} ${app}`;
    await Promise.all([
      run(cdktf, ["synth", "--hcl", "--app", appCmd, "--output", join(dir, "hcl")], { cwd: ROOT }),
      run(cdktf, ["synth", "--app", appCmd, "--output", join(dir, "json")], { cwd: ROOT }),
    ]);
    hclDir = join(dir, "hcl", "stacks", "sets");
    jsonDir = join(dir, "json", "stacks", "sets");
    await Promise.all([terraform(hclDir, "init", "-input=false"), terraform(jsonDir, "init", "-input=false")]);
  });

  test("THEN terraform validate passes with no warning", async () => {
    const out = await terraform(hclDir, "validate");
    expect(out).toContain("Success! The configuration is valid.");
    expect(out).not.toMatch(/Warning/);
  });

  test("THEN a good map plans the same in HCL as in JSON, and a bad element fails both with the same messages", () => {
    const good = JSON.stringify({ fleet: { "web-2": { address: "192.0.2.12" } } });
    for (const d of [hclDir, jsonDir]) {
      const r = planWith(d, good);
      expect([r.status, r.stdout]).toEqual([0, expect.stringContaining("Plan: 5 to add, 0 to change, 0 to destroy.")]);
    }
    const bad = JSON.stringify({ fleet: { "x y": { address: "1.2.3.999" } } });
    const messages = [hclDir, jsonDir].map((d) => {
      const r = planWith(d, bad);
      expect(r.status).toBe(1);
      return `${r.stderr}`.replace(/\s+/g, " ").match(/hostSets\[0\][^│]*?(?=\s*(╵|$))/g)?.filter((m) => m.includes("Fix:")).map((m) => m.trim()).sort();
    });
    expect(messages[0]).toEqual(messages[1]);
    expect(messages[0]!.join("\n")).toContain('hostSets[0].address: "1.2.3.999" is not an IPv4/IPv6 host address or DNS name');
    expect(messages[0]!.join("\n")).toContain('Fix: use e.g. "192.0.2.10"');
  });
});
