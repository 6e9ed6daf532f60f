import { spawnSync } from "child_process";
import { readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { App, DataResource, Fn, TerraformIterator, TerraformOutput, TerraformStack, TerraformVariable, Token } from "cdktf";
import { LoopbackPolicy } from "../../lib/core";
import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * Composition, for real: a stack where a terraform_data stands in for the instance and gives a lab host's address
 * and port as tokens, and a fleet expanded from a map variable that grows by one host with only `-var` changed.
 * Real `terraform apply` against lab hosts (namespaces with sshd). Fails, never skips, when it cannot run.
 */
jest.setTimeout(15 * 60_000);

const STACK = "e2ecompose";
const e2e = new E2eStack(STACK, "8");
const lab = e2e.lab;
let fleet: LabFleet;
let h: Record<string, LabHost>;
let dir: string;

const ecdsa = (x: LabHost) => x.hostKey.find((k) => k.startsWith("ecdsa-sha2-nistp256 "))!;
const managed = (x: LabHost) => lab.sh(x, "iptables -S").split("\n").filter((l) => l.includes('"lbp:'));

function synthesize(): void {
  const app = new App({ outdir: e2e.out });
  const stack = new TerraformStack(app, STACK);
  // The "instance": its address and port known only after it is applied.
  const vm = new DataResource(stack, "vm", { input: { address: h["lab-1"].address, port: 22 } });
  const connection = { ...fleet.connection, timeoutSeconds: 20 };
  new LoopbackPolicy(stack, "tokens", {
    resourceType: "terraform_data",
    rollbackSeconds: 10,
    connection,
    dependsOn: [vm],
    hosts: [{
      name: "lab-1",
      address: Token.asString(Fn.lookup(vm.output, "address")),
      port: Token.asNumber(Fn.lookup(vm.output, "port")),
      hostKey: h["lab-1"].hostKey,
    }],
  });
  const hosts = new TerraformVariable(stack, "fleet", { type: "map(object({ address = string, host_key = string }))" });
  const it = TerraformIterator.fromMap(hosts.value);
  const sets = new LoopbackPolicy(stack, "sets", {
    resourceType: "terraform_data",
    rollbackSeconds: 10,
    connection,
    hostSets: [{ name: "lab", forEach: it, address: it.getString("address"), hostKey: it.getString("host_key"), policy: { localOnlyPorts: ["tcp/8080"] } }],
  });
  new TerraformOutput(stack, "sets_applied", { value: sets.appliedHosts });
  app.synth();
}

function apply(fleetHosts: string[], extra: string[] = []): { status: number; out: string } {
  const vars = join(dir, "fleet.tfvars.json");
  writeFileSync(vars, JSON.stringify({ fleet: Object.fromEntries(fleetHosts.map((n) => [n, { address: h[n].address, host_key: ecdsa(h[n]) }])) }));
  const r = spawnSync("terraform", ["apply", "-auto-approve", "-no-color", "-input=false", `-var-file=${vars}`, ...extra], { cwd: dir, encoding: "utf8", env: process.env, timeout: 10 * 60_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  writeFileSync(join(e2e.work, `apply-${Date.now()}.log`), out);
  return { status: r.status ?? -1, out };
}

const sshCounts = () => Object.fromEntries(fleet.hosts.map((x) => [x.name, lab.sshAccepted(x)]));

beforeAll(() => {
  requireNetnsTools();
  fleet = lab.up(3);
  h = Object.fromEntries(fleet.hosts.map((x) => [x.name, x]));
  synthesize();
  dir = join(e2e.out, "stacks", STACK);
  const init = spawnSync("terraform", ["init", "-input=false", "-no-color"], { cwd: dir, encoding: "utf8", env: process.env });
  if (init.status !== 0) throw new Error(`terraform init failed: ${init.stdout}${init.stderr}`);
});

afterAll(() => e2e.tearDown());

test("GIVEN a host whose address and port come from another resource, and a host set of one host THEN one apply converges, verifies and persists both", () => {
  const r = apply(["lab-2"]);
  expect(r.status).toBe(0);
  for (const n of ["lab-1", "lab-2"]) {
    expect(r.out).toContain(`loopback-policy[${n}] confirmed over a new SSH connection`);
    expect(r.out).toMatch(new RegExp(`loopback-policy\\[${n}\\] ipv4: persisted`));
    expect(readFileSync(`/etc/netns/${h[n].labels.namespace}/iptables/rules.v4`, "utf8")).toContain("lbp:");
  }
  expect(managed(h["lab-1"]).map((l) => l.replace(/lbp:[0-9a-f]{8}:/, "lbp:G:"))).toEqual([
    '-A INPUT -i lo -m comment --comment "lbp:G:lo-in" -j ACCEPT',
    expect.stringMatching(/^-A INPUT -s 127\.0\.0\.0\/8 ! -i lo .*"lbp:G:spoof" -j DROP$/),
    '-A OUTPUT -o lo -m comment --comment "lbp:G:lo-out" -j ACCEPT',
  ]);
  // The set's policy: its local-only port too.
  expect(managed(h["lab-2"]).some((l) => l.includes(":local-tcp-1"))).toBe(true);
  expect(managed(h["lab-3"])).toEqual([]);
  const applied = JSON.parse(spawnSync("terraform", ["output", "-json", "sets_applied"], { cwd: dir, encoding: "utf8", env: process.env }).stdout);
  expect(Object.keys(applied)).toEqual(["lab-2"]);
  expect(applied["lab-2"].generation).toMatch(/^[0-9a-f]{8}$/);
  expect(managed(h["lab-2"])[0]).toContain(`lbp:${applied["lab-2"].generation}:`);
});

test("WHEN the map variable grows by one host (only -var changes) THEN only the new host converges: no SSH connection to the others", () => {
  const before = sshCounts();
  const r = apply(["lab-2", "lab-3"]);
  expect(r.status).toBe(0);
  expect(r.out).toContain("loopback-policy[lab-3] confirmed over a new SSH connection");
  expect(r.out).not.toContain("loopback-policy[lab-1]");
  expect(r.out).not.toContain("loopback-policy[lab-2]");
  expect(r.out).toMatch(/Apply complete! Resources: 1 added, 0 changed, 0 destroyed/);
  const after = sshCounts();
  expect([after["lab-1"], after["lab-2"]]).toEqual([before["lab-1"], before["lab-2"]]);
  expect(after["lab-3"]).toBeGreaterThan(before["lab-3"]);
  expect(managed(h["lab-3"]).length).toBe(4);
});

test("WHEN the same apply runs again THEN nothing runs and no SSH connection is opened", () => {
  const before = sshCounts();
  const r = apply(["lab-2", "lab-3"]);
  expect(r.status).toBe(0);
  expect(r.out).not.toContain("loopback-policy[");
  expect(sshCounts()).toEqual(before);
});

test("THEN loopback-check refuses to guess the hosts known only after apply, and with the state checks them as applied (drift included)", () => {
  const check = (...args: string[]) => spawnSync("node", [join(__dirname, "..", "..", "bin", "loopback-check.js"), "--dir", e2e.out, "--no-progress", ...args], { encoding: "utf8", env: process.env, timeout: 5 * 60_000 });
  const blind = check();
  expect(blind.status).toBe(2);
  expect(blind.stderr).toContain(`${STACK}/tokens: host lab-1 (its facts are known after apply)`);
  expect(blind.stderr).toContain(`${STACK}/sets: host set lab (its hosts are known after apply)`);
  const show = spawnSync("terraform", ["show", "-json"], { cwd: dir, encoding: "utf8", env: process.env });
  const state = join(e2e.work, "state.json");
  writeFileSync(state, show.stdout);
  const ok = check("--state", state);
  expect([ok.status, ok.stderr]).toEqual([0, ""]);
  for (const n of ["lab-1", "lab-2", "lab-3"]) expect(ok.stdout).toMatch(new RegExp(`${n}.*compliant`));
  lab.sh(h["lab-3"], "iptables -D INPUT 2");
  const drift = check("--state", `${STACK}=${state}`, "--format", "json");
  expect(drift.status).toBe(3);
  const hosts = JSON.parse(drift.stdout).hosts;
  expect(hosts.find((x: any) => x.host === "lab-3").status).toBe("drifted");
  expect(hosts.find((x: any) => x.host === "lab-2").status).toBe("compliant");
  // Put it back the way the policy has it (a re-deploy would too).
  expect(apply(["lab-2", "lab-3"], ['-replace=terraform_data.sets_lab["lab-3"]']).status).toBe(0);
  expect(managed(h["lab-3"]).length).toBe(4);
});

test("WHEN a host leaves the map THEN its destroy-time block removes exactly its managed rules; the others keep theirs", () => {
  const r = apply(["lab-3"]);
  expect(r.status).toBe(0);
  expect(r.out).toMatch(/loopback-policy\[lab-2\] .*removed/);
  expect(managed(h["lab-2"])).toEqual([]);
  expect(readFileSync(`/etc/netns/${h["lab-2"].labels.namespace}/iptables/rules.v4`, "utf8")).not.toContain("lbp:");
  expect(managed(h["lab-3"]).length).toBe(4);
  expect(managed(h["lab-1"]).length).toBe(3);
});

test("WHEN a new element has a bad address THEN the plan fails naming the field, and nothing runs", () => {
  const vars = join(dir, "bad.tfvars.json");
  writeFileSync(vars, JSON.stringify({ fleet: { "lab-3": { address: h["lab-3"].address, host_key: ecdsa(h["lab-3"]) }, "lab-9": { address: "256.1.1.1", host_key: "" } } }));
  const before = sshCounts();
  const r = spawnSync("terraform", ["apply", "-auto-approve", "-no-color", "-input=false", `-var-file=${vars}`], { cwd: dir, encoding: "utf8", env: process.env, timeout: 5 * 60_000 });
  expect(r.status).toBe(1);
  expect(`${r.stdout}${r.stderr}`.replace(/\s*\n\s*/g, " ")).toContain('hostSets[0].address: "256.1.1.1" is not an IPv4/IPv6 host address or DNS name');
  expect(sshCounts()).toEqual(before);
});

test("terraform destroy removes every managed rule from every host", () => {
  const vars = join(dir, "fleet.tfvars.json");
  const r = spawnSync("terraform", ["destroy", "-auto-approve", "-no-color", "-input=false", `-var-file=${vars}`], { cwd: dir, encoding: "utf8", env: process.env, timeout: 10 * 60_000 });
  expect(r.status).toBe(0);
  for (const x of fleet.hosts) expect([x.name, managed(x)]).toEqual([x.name, []]);
});
