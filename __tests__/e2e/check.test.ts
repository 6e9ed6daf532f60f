import { spawnSync } from "child_process";
import { readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * `npm run check` against a lab fleet deployed with the cdktf CLI: compliant hosts (one through a bastion, one
 * over IPv6 as a sudo user), drift made behind Terraform's back, a host whose sshd is stopped; and a second deploy
 * that re-converges only the `enforce: "every-apply"` host. Runs its own lab (LBP_LAB_ID=2) and
 * stack (e2echeck), so the other e2e suites can run at the same time. Fails, never skips, when it cannot run.
 */
jest.setTimeout(15 * 60_000);

const ROOT = join(__dirname, "..", "..");
const e2e = new E2eStack("e2echeck", "2");
const { lab, work, out } = e2e;
let fleet: LabFleet;
let h: Record<string, LabHost>;

const normalize = (text: string) => text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/ \[\d+:\d+\]$/, ""));
const rules = (x: LabHost) => [...normalize(lab.sh(x, "iptables-save -t filter")), ...normalize(lab.sh(x, "ip6tables-save -t filter"))];
const generationOf = (x: LabHost) => lab.sh(x, "iptables-save -t filter").match(/lbp:([0-9a-f]{8}):lo-in/)![1];
const sshCounts = () => Object.fromEntries(fleet.hosts.map((x) => [x.name, lab.sshAccepted(x)]));

function writeFleet(): void {
  const hosts = fleet.hosts.map((x) => {
    switch (x.name) {
      case "lab-1": // through a bastion: the host itself, so the jump is real but needs no second network
        return { ...x, bastion: { address: x.address, user: "root", hostKey: x.hostKey } };
      case "lab-3": // over IPv6, as a user that is not root, through sudo
        return { ...x, address: x.labels.ipv6Address, user: "lbpuser", sudo: true };
      case "lab-5":
        return { ...x, policy: { enforce: "every-apply" } };
      default:
        return x;
    }
  });
  e2e.writeFleet({ ...fleet, rollbackSeconds: 10, connection: { ...fleet.connection, timeoutSeconds: 20 }, hosts });
}

const deploy = () => e2e.cdktf("deploy");

function check(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync("npm", ["run", "--silent", "check", "--", "--dir", out, ...args], { cwd: ROOT, encoding: "utf8", timeout: 5 * 60_000 });
  writeFileSync(join(work, `check-${Date.now()}.log`), `${r.stdout}\n${r.stderr}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Stop a host's sshd (started by lab.sh, pid in the lab's state) and wait until nothing answers on port 22. */
function stopSshd(x: LabHost): void {
  const pid = Number(readFileSync(join(lab.stateDir, "hosts", x.name, "sshd.pid"), "utf8").trim());
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 50; i++) {
    const probe = spawnSync("python3", ["-c", `import socket;socket.create_connection(('${x.address}',22),1)`]);
    if (probe.status !== 0) return;
    spawnSync("sleep", ["0.1"]);
  }
  throw new Error(`sshd of ${x.name} still answers after SIGTERM`);
}

beforeAll(() => {
  requireNetnsTools();
  for (const [tool, pkg] of [["sshd", "openssh-server"], ["ssh", "openssh-client"], ["terraform", "terraform (preinstalled)"], ["sudo", "sudo"]]) {
    if (spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) throw new Error(`${tool} is missing: ${pkg}`);
  }
  e2e.removeState();
  fleet = lab.up(5);
  h = Object.fromEntries(fleet.hosts.map((x) => [x.name, x]));
  writeFleet();
});

afterAll(() => e2e.tearDown());

test("cdktf deploy converges the five hosts; the every-apply host is run a second time, finding nothing to do", () => {
  const r = deploy();
  expect(r.status).toBe(0);
  for (const x of fleet.hosts) expect(r.output).toContain(`loopback-policy[${x.name}] confirmed over a new SSH connection`);
  expect(r.output).toContain('terraform_data.loopback_enforce["lab-5"]');
  expect(r.output).toContain("loopback-policy[lab-5] result: unchanged");
  expect(r.output).not.toMatch(/loopback_enforce\["lab-[1-4]"\]/);
});

test("right after the deploy, npm run check finds every host compliant and exits 0", () => {
  const r = check("--format", "json", "--no-progress");
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.exitCode).toBe(0);
  expect(j.hosts.map((x: any) => [x.host, x.status])).toEqual(fleet.hosts.map((x) => [x.name, "compliant"]));
  expect(j.hosts.find((x: any) => x.host === "lab-3").report).toContain("ipv6: compliant");
});

describe("after changes behind Terraform's back", () => {
  let before: Record<string, string[]>;

  beforeAll(() => {
    // lab-2: the anti-spoof DROP deleted, a foreign rule inserted above the managed block
    lab.sh(h["lab-2"], "iptables -S INPUT | grep ':spoof\"' | sed 's/^-A /-D /' | while read -r r; do eval iptables $r; done");
    lab.sh(h["lab-2"], "iptables -I INPUT 1 -p tcp --dport 9999 -j ACCEPT");
    // lab-5 (every-apply): the IPv6 lo ACCEPT of OUTPUT deleted
    lab.sh(h["lab-5"], "ip6tables -S OUTPUT | grep ':lo-out\"' | sed 's/^-A /-D /' | while read -r r; do eval ip6tables $r; done");
    stopSshd(h["lab-4"]);
    before = Object.fromEntries(["lab-2", "lab-5"].map((n) => [n, rules(h[n])]));
  });

  test("npm run check: compliant, drifted with what converging would do, unreachable with ssh's reason; a progress line per host; exit 4", () => {
    const r = check();
    expect(r.status).toBe(4);
    const lines = r.stdout.split("\n");
    const at = (host: string) => lines.findIndex((l) => l.startsWith(`${host} `));
    expect(lines[at("lab-1")]).toBe("lab-1  compliant");
    expect(lines[at("lab-3")]).toBe("lab-3  compliant");
    expect(lines[at("lab-2")]).toBe("lab-2  DRIFTED");
    expect(lines[at("lab-2") + 1]).toMatch(/^ {9}ipv4: converging would do: moved INPUT\/lo-in; added INPUT\/spoof$/);
    expect(lines[at("lab-2") + 2]).toMatch(/^lab-3 /);
    expect(lines[at("lab-4")]).toBe(`lab-4  UNREACHABLE: ssh: connect to host ${h["lab-4"].address} port 22: Connection refused`);
    expect(lines[at("lab-5")]).toBe("lab-5  DRIFTED");
    expect(lines[at("lab-5") + 1]).toMatch(/^ {9}ipv6: converging would do: added OUTPUT\/lo-out$/);
    expect(r.stdout).toContain("5 hosts checked: 2 compliant, 2 drifted, 1 unreachable\n");
    const progress = r.stderr.split("\n").filter((l) => l.startsWith("["));
    expect(progress.map((l) => l.match(/^\[(\d)\/5\]/)![1])).toEqual(["1", "2", "3", "4", "5"]);
    expect(progress.map((l) => l.replace(/^\[\d\/5\] /, "").split(":")[0]).sort()).toEqual(["lab-1 compliant", "lab-2 drifted", "lab-3 compliant", "lab-4 unreachable", "lab-5 drifted"]);
  });

  test("--format json: the same per host, with the engine's report and ssh's error", () => {
    const r = check("--format", "json", "--no-progress", "--parallelism", "2");
    expect(r.status).toBe(4);
    const j = JSON.parse(r.stdout);
    expect(j.counts).toEqual({ compliant: 2, skipped: 0, drifted: 2, unreachable: 1, failed: 0 });
    const lab2 = j.hosts.find((x: any) => x.host === "lab-2");
    expect(lab2.drift).toEqual([{ family: "ipv4", changes: "moved INPUT/lo-in; added INPUT/spoof" }]);
    expect(lab2.report).toEqual(expect.arrayContaining(["ipv6: compliant", "result: drifted"]));
    expect(j.hosts.find((x: any) => x.host === "lab-4").message).toMatch(/Connection refused/);
  });

  test("the check changed nothing on the drifted hosts", () => {
    for (const n of ["lab-2", "lab-5"]) expect([n, rules(h[n])]).toEqual([n, before[n]]);
  });

  test("every host reachable but one drifted: exit 3", () => {
    expect(check("--host", "lab-1", "--host", "lab-2", "--host", "lab-3", "--no-progress").status).toBe(3);
  });

  test("the next deploy re-converges the every-apply host (same generation, main resource untouched) and no other", () => {
    const gen = generationOf(h["lab-5"]);
    const ssh0 = sshCounts();
    const r = deploy();
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/loopback-policy\[lab-5\] ipv6: added OUTPUT\/lo-out/);
    expect(r.output).toContain("loopback-policy[lab-5] confirmed over a new SSH connection");
    expect(r.output).not.toMatch(/loopback-policy\[lab-[1-4]\]/);
    expect(r.output).not.toMatch(/terraform_data\.loopback\["lab-5"\]: (Destroying|Creating)/);
    expect(r.output).not.toContain("loopback-policy[lab-5] ipv4: removed");
    expect(generationOf(h["lab-5"])).toBe(gen);
    const ssh1 = sshCounts();
    expect(ssh1["lab-5"] - ssh0["lab-5"]).toBe(2);
    for (const n of ["lab-1", "lab-2", "lab-3"]) expect([n, ssh1[n]]).toEqual([n, ssh0[n]]);
    const c = check("--host", "lab-2", "--host", "lab-5", "--no-progress");
    expect(c.status).toBe(3);
    expect(c.stdout).toContain("lab-5  compliant");
    expect(c.stdout).toContain("lab-2  DRIFTED");
  });
});
