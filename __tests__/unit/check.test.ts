import { spawnSync } from "child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps, planRules, renderHostScript, renderPolicyScript, validateFleet } from "../../lib/core";
import { HostEntry } from "../../lib/constructs/host-entries";
import { readSynthOut } from "../../lib/contract/read-out";
import { checkHosts, checkTargets } from "../../lib/check/check";
import { CHECK_EXIT, checkExitCode } from "../../lib/check/exit-code";
import { formatCheckText, progressLine } from "../../lib/check/format";
import { hostOutcome } from "../../lib/check/outcome";
import { mapBounded } from "../../lib/check/pool";
import { checkScript } from "../../lib/check/script";
import { BASTION_ALIAS, HOST_ALIAS, REMOTE_COMMAND, expandHome, hostKeyAlgorithms, sshCommand } from "../../lib/check/ssh";
import { checkCli } from "../../lib/cli/check";

const ROOT = join(__dirname, "..", "..");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHo";
const BASTION_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionKeyBastionKeyBastionKeyBastionK";

const FLEET: LoopbackPolicyProps = {
  resourceType: "terraform_data",
  hosts: [
    { name: "ok-1", address: "192.0.2.11", hostKey: [KEY], privateKeyPath: "~/.ssh/fleet" },
    { name: "drift-1", address: "192.0.2.12", user: "deploy", policy: { localOnlyPorts: ["tcp/8080"] } },
    { name: "down-1", address: "192.0.2.13", port: 2222, bastion: { address: "198.51.100.1", user: "jump", hostKey: [BASTION_KEY], privateKeyPath: "/keys/jump key" } },
  ],
};

function synthTo(props: LoopbackPolicyProps): string {
  const out = join(mkdtempSync(join(tmpdir(), "lbp-check-")), "cdktf.out");
  const app = new App({ outdir: out });
  new LoopbackPolicy(new TerraformStack(app, "fleet"), "loopback", props);
  app.synth();
  return out;
}

const out = synthTo(FLEET);
const policy = readSynthOut(out).stacks[0].policies[0];
const entry = (name: string): HostEntry => policy.entries[name];
const files = { host: "/tmp/x/known_hosts", bastion: "/tmp/x/bastion_known_hosts" };
const opt = (args: string[], name: string) => args[args.indexOf("-o", args.findIndex((a) => a.startsWith(`${name}=`)) - 1) + 1];

describe("the check script", () => {
  test("GIVEN a synthesized host THEN the script is what Terraform writes from the inline, in check mode, with the host's facts", () => {
    const validated = validateFleet(FLEET, ["resourceType"]).hosts[1];
    const expected = renderHostScript({ mode: "check", host: "drift-1", generation: entry("drift-1").generation, sudo: "1" }, renderPolicyScript(validated.policy, planRules(validated.policy)).text);
    expect(checkScript(policy, "drift-1")).toBe(`${expected}\n`);
  });

  test("THEN it carries the engine from the synthesized provisioner, unescaped, not the library's", () => {
    const json = JSON.parse(readFileSync(policy.file, "utf8"));
    json.resource.terraform_data.loopback.provisioner[2]["remote-exec"].inline[3] += "\n# deployed-engine-marker $${HOME}";
    const dir = mkdtempSync(join(tmpdir(), "lbp-check-"));
    const copy = join(dir, "stacks", "fleet");
    spawnSync("mkdir", ["-p", copy]);
    writeFileSync(join(copy, "cdk.tf.json"), JSON.stringify(json));
    const script = checkScript(readSynthOut(dir).stacks[0].policies[0], "ok-1");
    expect(script).toContain("# deployed-engine-marker ${HOME}\n");
    expect(script).not.toContain("$${");
  });

  test("THEN dash parses it", () => {
    const file = join(mkdtempSync(join(tmpdir(), "lbp-check-")), "check.sh");
    writeFileSync(file, checkScript(policy, "ok-1"));
    const r = spawnSync("/bin/sh", ["-n", file], { encoding: "utf8" });
    expect([r.status, r.stderr]).toEqual([0, ""]);
  });
});

describe("the ssh command", () => {
  const home = "/home/ops";

  test("GIVEN a pinned host key and a key file THEN strict checking against a known_hosts file with only that key, the key file alone", () => {
    const cmd = sshCommand(entry("ok-1"), files, { connectTimeout: 7, home });
    expect(cmd.hostKnownHosts).toBe(`${HOST_ALIAS} ${KEY}\n`);
    expect(cmd.bastionKnownHosts).toBeNull();
    expect(cmd.args).toEqual(expect.arrayContaining(["BatchMode=yes", "ConnectTimeout=7", `UserKnownHostsFile=${files.host}`, `HostKeyAlias=${HOST_ALIAS}`, "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null"]));
    expect(cmd.args.slice(0, 2)).toEqual(["-F", "/dev/null"]);
    expect(cmd.args[cmd.args.indexOf("-i") + 1]).toBe("/home/ops/.ssh/fleet");
    expect(cmd.args).toContain("IdentitiesOnly=yes");
    expect(cmd.args.slice(-7)).toEqual(["-p", "22", "-l", "root", "--", "192.0.2.11", REMOTE_COMMAND]);
    expect(cmd.args.some((a) => a.startsWith("ProxyCommand="))).toBe(false);
    expect(opt(cmd.args, "StrictHostKeyChecking")).toBe("StrictHostKeyChecking=yes");
    expect(opt(cmd.args, "HostKeyAlgorithms")).toBe("HostKeyAlgorithms=ssh-ed25519");
  });

  test("GIVEN the pinned key's type THEN ssh asks for that type only (the host has others it would prefer)", () => {
    expect(hostKeyAlgorithms("ecdsa-sha2-nistp256 AAAA")).toBe("ecdsa-sha2-nistp256");
    expect(hostKeyAlgorithms("ssh-rsa AAAA")).toBe("rsa-sha2-512,rsa-sha2-256,ssh-rsa");
    expect(sshCommand(entry("drift-1"), files, { connectTimeout: 10, home }).args.find((a) => a.startsWith("HostKeyAlgorithms="))).toBeUndefined();
  });

  test("GIVEN no host key and no key file THEN accept-new into an empty file, and the SSH agent", () => {
    const cmd = sshCommand(entry("drift-1"), files, { connectTimeout: 10, home });
    expect(cmd.hostKnownHosts).toBe("");
    expect(cmd.args).toContain("StrictHostKeyChecking=accept-new");
    expect(cmd.args).not.toContain("-i");
    expect(cmd.args.slice(-7, -3)).toEqual(["-p", "22", "-l", "deploy"]);
  });

  test("GIVEN a bastion THEN a ProxyCommand runs ssh -W with the bastion's own key, port, user and pinned key, every word quoted", () => {
    const cmd = sshCommand(entry("down-1"), files, { connectTimeout: 10, home });
    expect(cmd.bastionKnownHosts).toBe(`${BASTION_ALIAS} ${BASTION_KEY}\n`);
    const proxy = cmd.args.find((a) => a.startsWith("ProxyCommand="))!.slice("ProxyCommand=".length);
    expect(proxy.startsWith("'ssh' '-F' '/dev/null' '-T' '-o' 'BatchMode=yes'")).toBe(true);
    expect(proxy).toContain(`'-o' 'UserKnownHostsFile=${files.bastion}' '-o' 'HostKeyAlias=${BASTION_ALIAS}' '-o' 'StrictHostKeyChecking=yes'`);
    expect(proxy).toContain("'-i' '/keys/jump key' '-o' 'IdentitiesOnly=yes'");
    expect(proxy.endsWith("'-p' '22' '-l' 'jump' -W '[%h]:%p' -- '198.51.100.1'")).toBe(true);
    expect(cmd.args.slice(-7, -3)).toEqual(["-p", "2222", "-l", "root"]);
  });

  test("GIVEN a % in a bastion value THEN it is doubled, so ssh does not read it as a token", () => {
    const cmd = sshCommand({ ...entry("down-1"), bastion_private_key_path: "/keys/100%" }, files, { connectTimeout: 10, home });
    expect(cmd.args.find((a) => a.startsWith("ProxyCommand="))).toContain("'/keys/100%%'");
  });

  test("~ expands like Terraform's pathexpand; other paths stay", () => {
    expect(expandHome("~", "/root")).toBe("/root");
    expect(expandHome("~/.ssh/k", "/root")).toBe("/root/.ssh/k");
    expect(expandHome("/etc/k", "/root")).toBe("/etc/k");
    expect(expandHome("~bob/k", "/root")).toBe("~bob/k");
  });

  test("GIVEN the remote command and a script on stdin THEN the script runs from a file ($0), its exit code comes back, the file is gone", () => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-remote-"));
    const script = `#!/bin/sh\necho "ran $0"\nexit 3\n`;
    const r = spawnSync("sh", ["-c", REMOTE_COMMAND], { input: script, encoding: "utf8", env: { ...process.env, TMPDIR: dir } });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`^ran ${dir}/tmp\\.\\w+\\n$`));
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("reading a host's result", () => {
  const run = (exitCode: number | null, stdout = "", stderr = "", timedOut = false) => hostOutcome("h", { exitCode, stdout, stderr, timedOut, timeoutSeconds: 120 });

  test("GIVEN exit 0 and result: compliant THEN compliant", () => {
    expect(run(0, "loopback-policy[h] ipv4: compliant\nloopback-policy[h] result: compliant\n")).toEqual({ status: "compliant", drift: [], report: ["ipv4: compliant", "result: compliant"], message: null });
  });

  test("GIVEN exit 3 THEN drifted, with each family's changes", () => {
    const o = run(3, "loopback-policy[h] ipv4: drifted: converging would do: added INPUT/spoof\nloopback-policy[h] ipv6: drifted: converging would do: moved INPUT/lo-in; added OUTPUT/lo-out\nloopback-policy[h] result: drifted\n");
    expect(o.status).toBe("drifted");
    expect(o.drift).toEqual([{ family: "ipv4", changes: "added INPUT/spoof" }, { family: "ipv6", changes: "moved INPUT/lo-in; added OUTPUT/lo-out" }]);
  });

  test("GIVEN a host run through ufw (otherFirewall: manage) THEN compliant says so; drift in ufw's terms is read as drift", () => {
    const via = "loopback-policy[h] host: ufw is active (ufw status); managing loopback through ufw (otherFirewall: manage)\n";
    expect(run(0, `${via}loopback-policy[h] ipv4: compliant (ufw: 3 managed rules at the top of /etc/ufw/user.rules, live and persisted)\nloopback-policy[h] result: compliant\n`)).toMatchObject({ status: "compliant", message: "through ufw (otherFirewall: manage)" });
    const o = run(3, `${via}loopback-policy[h] ipv4: drifted: converging would do: ufw: moved lo-in (ufw-user-input does not start with the managed rules)\nloopback-policy[h] result: drifted\n`);
    expect(o.status).toBe("drifted");
    expect(o.drift).toEqual([{ family: "ipv4", changes: "ufw: moved lo-in (ufw-user-input does not start with the managed rules)" }]);
  });

  test("GIVEN otherFirewall skip THEN skipped, saying why", () => {
    expect(run(0, "loopback-policy[h] skipped: ufw is active (ufw status) (otherFirewall: skip); nothing was changed\n")).toMatchObject({ status: "skipped", message: "ufw is active (ufw status) (otherFirewall: skip); nothing was changed" });
  });

  test("GIVEN ssh exit 255 THEN unreachable with ssh's reason", () => {
    expect(run(255, "", "ssh: connect to host 192.0.2.13 port 2222: Connection refused\n")).toMatchObject({ status: "unreachable", message: "ssh: connect to host 192.0.2.13 port 2222: Connection refused" });
  });

  test("GIVEN a host key mismatch THEN one line naming the key offered", () => {
    const stderr = "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc/def.\nHost key verification failed.\n";
    expect(run(255, "", stderr).message).toBe("host key verification failed: the host offered ED25519 key SHA256:abc/def, which is not the pinned host_key");
  });

  test("GIVEN a timeout THEN unreachable, saying after how long", () => {
    expect(run(null, "", "", true)).toMatchObject({ status: "unreachable", message: "no result within 120s; the connection was closed" });
  });

  test("GIVEN the engine failing THEN failed with its reason", () => {
    expect(run(1, "", "loopback-policy[h] FAILED: sudo asks deploy for a password: allow passwordless sudo\n")).toMatchObject({ status: "failed", message: "sudo asks deploy for a password: allow passwordless sudo" });
    expect(run(127, "", "sh: 1: mktemp: not found\n")).toMatchObject({ status: "failed", message: "the check exited 127 without a result: sh: 1: mktemp: not found" });
  });
});

describe("fleet-level pieces", () => {
  test("GIVEN 20 jobs and a limit of 3 THEN never more than 3 run at once, results in order, every one reported", async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    const results = await mapBounded(Array.from({ length: 20 }, (_, i) => i), 3, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5 + ((i * 7) % 11)));
      running--;
      return i * 2;
    }, (_r, done) => seen.push(done));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(peak).toBe(3);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  test("exit codes: incomplete over drifted over compliant; skipped counts as compliant", () => {
    expect(checkExitCode(["compliant", "skipped"])).toBe(CHECK_EXIT.compliant);
    expect(checkExitCode(["compliant", "drifted"])).toBe(CHECK_EXIT.drifted);
    expect(checkExitCode(["drifted", "unreachable"])).toBe(CHECK_EXIT.incomplete);
    expect(checkExitCode(["failed"])).toBe(CHECK_EXIT.incomplete);
    expect(Object.values(CHECK_EXIT)).toEqual([0, 2, 3, 4]);
  });

  test("GIVEN hosts of one construct THEN targets are sorted by name, filtered by --host", () => {
    const read = readSynthOut(out);
    expect(checkTargets(read).map((t) => t.host)).toEqual(["down-1", "drift-1", "ok-1"]);
    expect(checkTargets(read, { hosts: ["ok-1"] }).map((t) => t.host)).toEqual(["ok-1"]);
    expect(checkTargets(read, { stacks: ["other"] })).toEqual([]);
  });
});

/**
 * A stand-in for ssh on PATH: answers per target address like the real thing would, and keeps what it was sent
 * (arguments and stdin) so the test can compare it with what a check must send.
 */
function fakeSsh(): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "lbp-fake-ssh-"));
  const log = join(dir, "log");
  const ssh = join(dir, "ssh");
  writeFileSync(ssh, `#!/bin/sh
[ "$1" = -V ] && { echo "OpenSSH_fake" >&2; exit 0; }
for a in "$@"; do addr=$prev; prev=$a; done
cat > "${log}.$addr.stdin"
printf '%s\\n' "$@" > "${log}.$addr.args"
for a in "$@"; do case "$a" in UserKnownHostsFile=*) cat "\${a#UserKnownHostsFile=}" > "${log}.$addr.known_hosts" ;; esac; done
case "$addr" in
  192.0.2.11) echo "loopback-policy[ok-1] ipv4: compliant"; echo "loopback-policy[ok-1] result: compliant"; exit 0 ;;
  192.0.2.12) echo "loopback-policy[drift-1] ipv4: drifted: converging would do: moved INPUT/lo-in; added INPUT/spoof"; echo "loopback-policy[drift-1] result: drifted"; exit 3 ;;
  *) echo "ssh: connect to host $addr port 2222: Connection refused" >&2; exit 255 ;;
esac
`);
  chmodSync(ssh, 0o755);
  return { dir, log };
}

describe("loopback-check end to end, with a stand-in ssh", () => {
  const fake = fakeSsh();
  const env = { ...process.env, PATH: `${fake.dir}:${process.env.PATH}` };
  const bin = (args: string[]) => spawnSync("node", [join(ROOT, "bin", "loopback-check.js"), "--dir", out, ...args], { encoding: "utf8", env });

  test("GIVEN one compliant, one drifted, one unreachable host THEN a line each, the drift under its host, a tally, exit 4", () => {
    const r = bin([]);
    expect(r.status).toBe(4);
    expect(r.stdout).toBe([
      "down-1   UNREACHABLE: ssh: connect to host 192.0.2.13 port 2222: Connection refused",
      "drift-1  DRIFTED",
      `${" ".repeat("drift-1".length + 4)}ipv4: converging would do: moved INPUT/lo-in; added INPUT/spoof`,
      "ok-1     compliant",
      "",
      "3 hosts checked: 1 compliant, 1 drifted, 1 unreachable",
      "",
    ].join("\n"));
    const progress = r.stderr.split("\n").filter(Boolean);
    expect(progress.map((l) => l.slice(0, 6))).toEqual(["[1/3] ", "[2/3] ", "[3/3] "]);
    expect(progress.map((l) => l.slice(6)).sort()).toEqual([
      "down-1 unreachable: ssh: connect to host 192.0.2.13 port 2222: Connection refused",
      "drift-1 drifted",
      "ok-1 compliant",
    ]);
  });

  test("THEN each host was sent its check script on stdin, with its own ssh arguments", () => {
    bin([]);
    expect(readFileSync(`${fake.log}.192.0.2.12.stdin`, "utf8")).toBe(checkScript(policy, "drift-1"));
    const args = readFileSync(`${fake.log}.192.0.2.11.args`, "utf8").trimEnd().split("\n");
    expect(args.slice(-5)).toEqual(["-l", "root", "--", "192.0.2.11", REMOTE_COMMAND]);
    expect(args).toContain("StrictHostKeyChecking=yes");
    expect(readFileSync(`${fake.log}.192.0.2.11.known_hosts`, "utf8")).toBe(`${HOST_ALIAS} ${KEY}\n`);
    expect(readFileSync(`${fake.log}.192.0.2.12.known_hosts`, "utf8")).toBe("");
  });

  test("GIVEN only reachable hosts, one drifted THEN exit 3; only the compliant one THEN exit 0", () => {
    expect(bin(["--host", "ok-1", "--host", "drift-1", "--no-progress"]).status).toBe(3);
    const ok = bin(["--host", "ok-1", "--no-progress"]);
    expect([ok.status, ok.stderr]).toEqual([0, ""]);
  });

  test("GIVEN --format json THEN per host its status, drift and message, the counts and the exit code", () => {
    const r = bin(["--format", "json", "--no-progress"]);
    const j = JSON.parse(r.stdout);
    expect(j.exitCode).toBe(4);
    expect(j.counts).toEqual({ compliant: 1, skipped: 0, drifted: 1, unreachable: 1, failed: 0 });
    expect(j.hosts.map((h: any) => [h.host, h.status])).toEqual([["down-1", "unreachable"], ["drift-1", "drifted"], ["ok-1", "compliant"]]);
    expect(j.hosts[1]).toMatchObject({ stack: "fleet", id: "loopback", address: "192.0.2.12", drift: [{ family: "ipv4", changes: "moved INPUT/lo-in; added INPUT/spoof" }] });
  });

  test("GIVEN --parallelism 1 THEN hosts finish in order", () => {
    const r = bin(["--parallelism", "1"]);
    expect(r.stderr.split("\n").filter(Boolean).map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(["[1/3] down-1", "[2/3] drift-1", "[3/3] ok-1"]);
  });

  test("GIVEN no ssh client on PATH THEN exit 2 saying what to install", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin", "loopback-check.js"), "--dir", out], { encoding: "utf8", env: { PATH: mkdtempSync(join(tmpdir(), "lbp-empty-path-")) } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ssh: the OpenSSH client is not installed\. Fix: apt-get install openssh-client/);
  });
});

describe("loopback-check: what it refuses", () => {
  const cli = async (argv: string[]) => {
    let stderr = "";
    let stdout = "";
    const code = await checkCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
  };

  test.each([
    ["a missing cdktf.out", () => ["--dir", join(tmpdir(), "lbp-no-such-dir")], /no synthesized output: the directory does not exist\. Fix: run `npm run synth` first/],
    ["an unknown host", () => ["--dir", out, "--host", "web-9"], /--host: no host "web-9" in .*\. Fix: use one of down-1, drift-1, ok-1/],
    ["an unknown stack", () => ["--dir", out, "--stack", "prod"], /--stack: no LoopbackPolicy stack "prod"/],
    ["parallelism 0", () => ["--dir", out, "--parallelism", "0"], /--parallelism: "0" is out of range\. Fix: use a whole number from 1 to 256/],
    ["an unknown format", () => ["--format", "markdown"], /--format: unknown value "markdown"\. Fix: use one of text, json/],
  ])("GIVEN %s THEN exit 2 and the fix, nothing on stdout", async (_name, argv, message) => {
    const r = await cli(argv());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
  });

  test("GIVEN a foreign cdktf.out WHEN `npm run check` THEN exit 2", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lbp-foreign-")), "cdktf.out");
    const app = new App({ outdir: dir });
    new TerraformStack(app, "web");
    app.synth();
    const r = spawnSync("npm", ["run", "--silent", "check", "--", "--dir", dir], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/none of its stacks \(web\) holds a LoopbackPolicy/);
  });
});

describe("checkHosts reports progress and cleans up", () => {
  test("GIVEN the stand-in ssh THEN onProgress sees every host once with the running count, and no temporary known_hosts is left", async () => {
    const fake = fakeSsh();
    const tmp = mkdtempSync(join(tmpdir(), "lbp-check-tmp-"));
    const seen: string[] = [];
    const results = await checkHosts(checkTargets(readSynthOut(out)), { ssh: join(fake.dir, "ssh"), parallelism: 2, tmpDir: tmp, onProgress: (r, done, total) => seen.push(progressLine(r, done, total, false)) });
    expect(seen).toHaveLength(3);
    expect(seen.map((l) => l.slice(0, 5)).sort()).toEqual(["[1/3]", "[2/3]", "[3/3]"]);
    expect(formatCheckText(results)).toContain("3 hosts checked: 1 compliant, 1 drifted, 1 unreachable");
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(fake.dir, { recursive: true, force: true });
  });
});
