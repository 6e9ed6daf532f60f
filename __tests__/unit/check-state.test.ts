import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, TerraformIterator, TerraformStack, TerraformVariable } from "cdktf";
import { LoopbackPolicy } from "../../lib/core";
import { readSynthOut } from "../../lib/contract/read-out";
import { findTargets } from "../../lib/check/check";
import { StateError, appliedEntries } from "../../lib/check/state";
import { checkCli } from "../../lib/cli/check";

/** loopback-check and Terraform state: hosts known only after apply are checked as they were applied. */
const out = mkdtempSync(join(tmpdir(), "lbp-state-"));
{
  const app = new App({ outdir: out });
  const stack = new TerraformStack(app, "fleet");
  const fleet = new TerraformVariable(stack, "fleet", { type: "map(object({ address = string }))" });
  const addr = new TerraformVariable(stack, "addr", { type: "string" });
  const it = TerraformIterator.fromMap(fleet.value);
  new LoopbackPolicy(stack, "loopback", {
    resourceType: "terraform_data",
    hosts: [{ name: "web-1", address: "192.0.2.10" }, { name: "vm-1", address: addr.stringValue }],
    hostSets: [{ name: "web", forEach: it, address: it.getString("address") }],
  });
  app.synth();
}
const policy = readSynthOut(out).stacks[0].policies[0];
const setKey = policy.hostSets[0].policy;
const entry = (name: string, address: string, policyKey: string) => ({
  name, address, port: 22, user: "root", private_key_path: "", host_key: "", bastion_host: "", bastion_user: "", bastion_port: "",
  bastion_private_key_path: "", bastion_host_key: "", sudo: "0", timeout: "300s", policy: policyKey, generation: "0a1b2c3d", policy_script: "#...",
});
const vmKey = policy.entries["vm-1"].policy;
/** As `terraform show -json` prints it. */
const shown = {
  format_version: "1.0",
  values: { root_module: { resources: [
    { address: 'terraform_data.loopback["vm-1"]', mode: "managed", type: "terraform_data", name: "loopback", index: "vm-1", values: { input: entry("vm-1", "192.0.2.21", vmKey) } },
    { address: 'terraform_data.loopback_web["web-7"]', mode: "managed", type: "terraform_data", name: "loopback_web", index: "web-7", values: { input: entry("web-7", "192.0.2.27", setKey) } },
    { address: "terraform_data.other", mode: "managed", type: "terraform_data", name: "other", values: { input: { address: "203.0.113.1" } } },
  ] } },
};
/** As the state file (version 4) holds it: terraform_data's dynamic input as { value, type }. */
const file = {
  version: 4,
  resources: [
    { mode: "managed", type: "terraform_data", name: "loopback_web", instances: [{ index_key: "web-7", attributes: { input: { value: entry("web-7", "192.0.2.27", setKey), type: ["object", {}] } } }] },
    { mode: "managed", type: "terraform_data", name: "loopback_web", module: "module.x", instances: [{ index_key: "web-8", attributes: { input: { value: entry("web-8", "192.0.2.28", setKey), type: ["object", {}] } } }] },
  ],
};

test("GIVEN terraform show -json output THEN each host of the policy's resources (and only those) comes back with its applied entry, values as text", () => {
  const applied = appliedEntries(shown, policy);
  expect([...applied.keys()].sort()).toEqual(["vm-1", "web-7"]);
  expect(applied.get("web-7")).toEqual({ resource: "terraform_data.loopback_web", entry: expect.objectContaining({ address: "192.0.2.27", port: "22", generation: "0a1b2c3d" }) });
  expect(applied.get("web-7")!.entry).not.toHaveProperty("policy_script");
});

test("GIVEN the state file THEN the same, with the dynamic value unwrapped; a child module's resource of the same name is not the stack's", () => {
  expect([...appliedEntries(file, policy).keys()]).toEqual(["web-7"]);
});

test("GIVEN something else THEN it is refused", () => {
  expect(() => appliedEntries({ hello: 1 }, policy)).toThrow(StateError);
  const broken = { ...shown, values: { root_module: { resources: [{ ...shown.values.root_module.resources[1], values: { input: { name: "web-7" } } }] } } };
  expect(() => appliedEntries(broken, policy)).toThrow(/terraform_data\.loopback_web\["web-7"\] has no address in its input/);
});

test.each([
  ["an address that is an ssh option", { address: "-oProxyCommand=touch /tmp/pwned" }, /address: "-oProxyCommand=touch \/tmp\/pwned" is not an IPv4\/IPv6 address/],
  ["a host key with a second known_hosts line", { host_key: "ecdsa-sha2-nistp256 AAAA\n@cert-authority * ssh-ed25519 AAAA" }, /host_key is not one "type base64" key/],
  ["a user with a space", { user: "root -oX=y" }, /user/],
  ["a generation that is a command", { generation: "$(reboot)" }, /generation is not 8 hex digits/],
  ["a name other than the key", { name: "web-8" }, /name is "web-8", not the instance key/],
])("GIVEN a state whose entry holds %s THEN it is refused before anything connects", (_what, patch, message) => {
  const bad = { values: { root_module: { resources: [{ ...shown.values.root_module.resources[1], values: { input: { ...entry("web-7", "192.0.2.27", setKey), ...patch } } }] } } };
  expect(() => appliedEntries(bad, policy)).toThrow(StateError);
  expect(() => appliedEntries(bad, policy)).toThrow(message);
});

test("GIVEN no state THEN the literal host is a target and the token host and the set are listed as unknown", () => {
  const t = findTargets(readSynthOut(out));
  expect(t.targets.map((x) => x.host)).toEqual(["web-1"]);
  expect(t.unknown).toEqual(["fleet/loopback: host vm-1 (its facts are known after apply)", "fleet/loopback: host set web (its hosts are known after apply)"]);
});

test("GIVEN the state THEN every applied host is a target: the token host and the set's with their applied address, the literal one as synthesized", () => {
  const t = findTargets(readSynthOut(out), { states: new Map([["fleet", shown]]) });
  expect(t.unknown).toEqual([]);
  expect(t.targets.map((x) => [x.host, x.entry.address])).toEqual([["vm-1", "192.0.2.21"], ["web-1", "192.0.2.10"], ["web-7", "192.0.2.27"]]);
  expect(t.targets.find((x) => x.host === "web-7")!.script).toContain("LBP_MODE='check' LBP_HOST='web-7' LBP_GEN='0a1b2c3d'");
});

describe("the CLI", () => {
  const run = async (...argv: string[]) => {
    let stdout = "";
    let stderr = "";
    const code = await checkCli(["--dir", out, ...argv], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
  };
  test.each([
    [[], /hosts: these cannot be checked from the synth alone: fleet\/loopback: host vm-1 .*Fix: pass each such stack's state/],
    [["--state", "/nonexistent.json"], /--state: cannot read \/nonexistent\.json \(ENOENT\)/],
    [["--state", "NOTJSON"], /--state: NOTJSON is not JSON/],
    [["--state", "WRONG"], /--state: WRONG is neither `terraform show -json` output nor a Terraform state file/],
    [["--state", "fleet=SHOWN", "--state", "SHOWN"], /--state: stack fleet is given two states/],
  ])("%j exits 2 saying why", async (argv, message) => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-state-args-"));
    writeFileSync(join(dir, "NOTJSON"), "Terraform state:\n");
    writeFileSync(join(dir, "WRONG"), "{}");
    writeFileSync(join(dir, "SHOWN"), JSON.stringify(shown));
    const r = await run(...argv.map((a) => a.replace(/^(fleet=)?(NOTJSON|WRONG|SHOWN)$/, (_m, p: string | undefined, f: string) => `${p ?? ""}${join(dir, f)}`)));
    expect(r.code).toBe(2);
    expect(r.stderr.replace(dir + "/", "")).toMatch(message);
  });
});

test.each([
  ["a port in hex", { port: "0x16" }, /port is not a whole number/],
  ["a bastion without its user", { bastion_host: "192.0.2.99", bastion_port: "22", bastion_user: "" }, /bastion_user is missing/],
  ["a host key and a second line", { host_key: "ecdsa-sha2-nistp256 AAAA\n* ssh-ed25519 AAAA" }, /host_key is not one "type base64" key/],
])("GIVEN a state entry with %s THEN it is refused (what ssh gets is what was validated)", (_what, patch, message) => {
  const bad = { values: { root_module: { resources: [{ ...shown.values.root_module.resources[1], values: { input: { ...entry("web-7", "192.0.2.27", setKey), ...patch } } }] } } };
  expect(() => appliedEntries(bad, policy)).toThrow(message);
});

test("GIVEN a deposed instance (a replaced one whose destroy failed) beside the current one THEN the current one is checked", () => {
  const current = shown.values.root_module.resources[1];
  const deposed = { ...current, deposed_key: "00ab", values: { input: { ...entry("web-7", "198.51.100.7", setKey), generation: "ffffffff" } } };
  expect(appliedEntries({ values: { root_module: { resources: [current, deposed] } } }, policy).get("web-7")!.entry.address).toBe("192.0.2.27");
  const v4 = { version: 4, resources: [{ mode: "managed", type: "terraform_data", name: "loopback_web", instances: [
    { index_key: "web-7", attributes: { input: { value: entry("web-7", "192.0.2.27", setKey), type: ["object", {}] } } },
    { index_key: "web-7", deposed: "00ab", attributes: { input: { value: entry("web-7", "198.51.100.7", setKey), type: ["object", {}] } } },
  ] }] };
  expect(appliedEntries(v4, policy).get("web-7")!.entry.address).toBe("192.0.2.27");
});

test("GIVEN a state that holds none of the policy's hosts (another stack's) THEN the sets are not checked as empty: the check refuses", () => {
  const t = findTargets(readSynthOut(out), { states: new Map([["fleet", { format_version: "1.0" }]]) });
  expect(t.unknown).toContain("fleet/loopback: the state given holds none of its hosts (another stack's state, or one from before the first apply)");
});
