import { ChildProcess, spawn, spawnSync } from "child_process";
import { readFileSync } from "fs";
import { join } from "path";
import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { loopbackWorks, reachableFromOutside, spoofReceived } from "../support/lab-traffic";
import { requireNetnsTools } from "../support/netns";

/**
 * The real thing: a lab fleet of namespaces with sshd, deployed with the cdktf CLI (`npm run deploy`, i.e.
 * `cdktf deploy`) using terraform_data, then checked with packets. Fails, never skips, when it cannot run.
 */
jest.setTimeout(15 * 60_000);

const e2e = new E2eStack("e2e");
const lab = e2e.lab;
let fleet: LabFleet;
let h: Record<string, LabHost>;
const services: ChildProcess[] = [];

const BASE_DROP = [
  "iptables -P INPUT DROP", "iptables -P OUTPUT DROP",
  "iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "iptables -A INPUT -p tcp --dport 22 -j ACCEPT",
  "iptables -A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  "ip6tables -P INPUT DROP", "ip6tables -P OUTPUT DROP",
  "ip6tables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT",
  "ip6tables -A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  // IPv6 does not work at all without neighbour discovery: every real IPv6 ruleset lets ICMPv6 through.
  "ip6tables -A INPUT -p ipv6-icmp -j ACCEPT", "ip6tables -A OUTPUT -p ipv6-icmp -j ACCEPT",
];
const FOREIGN = [
  "iptables -N DOCKER-USER", "iptables -A DOCKER-USER -j RETURN", "iptables -A FORWARD -j DOCKER-USER",
  "iptables -N f2b-sshd", "iptables -A f2b-sshd -s 203.0.113.9/32 -j REJECT --reject-with icmp-port-unreachable", "iptables -A f2b-sshd -j RETURN",
  "iptables -I INPUT 1 -p tcp -m multiport --dports 22 -j f2b-sshd",
  "iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
];

function writeFleet(overrides: { lab6Port?: number; lab2Policy?: object } = {}): void {
  const hosts = fleet.hosts.map((x) => {
    switch (x.name) {
      case "lab-3": // reached over IPv6, as a non-root user through sudo
        return { ...x, address: x.labels.ipv6Address, user: "lbpuser", sudo: true };
      case "lab-5":
        return { ...x, policy: { localOnlyPorts: ["tcp/8080"] } };
      case "lab-6": // sshd listens on 22 only: a host that cannot be reached
        return { ...x, port: overrides.lab6Port ?? 2222 };
      case "lab-2":
        return overrides.lab2Policy ? { ...x, policy: overrides.lab2Policy } : x;
      default:
        return x;
    }
  });
  e2e.writeFleet({ ...fleet, rollbackSeconds: 10, connection: { ...fleet.connection, timeoutSeconds: 20 }, hosts });
}

const cdktf = (command: "deploy" | "destroy") => e2e.cdktf(command);

/** A ruleset as iptables-save prints it, without comment lines and chain counters. */
const normalize = (text: string) => text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
const saveFilter = (x: LabHost, tool: string) => normalize(lab.sh(x, `${tool}-save`));
const managed = (lines: string[]) => lines.filter((l) => l.includes('"lbp:'));
const unmanaged = (lines: string[]) => lines.filter((l) => !l.includes('"lbp:'));
const idsOf = (lines: string[], chainName: string) =>
  lines.filter((l) => l.startsWith(`-A ${chainName} `) && l.includes('"lbp:')).map((l) => l.match(/lbp:[0-9a-f]+:([\w-]+)/)![1]);
const firstRules = (lines: string[], chainName: string, n: number) => lines.filter((l) => l.startsWith(`-A ${chainName} `)).slice(0, n);
const converged = () => ["lab-1", "lab-2", "lab-3", "lab-4", "lab-5"].map((n) => h[n]);

let foreignBefore: string[];
const setUpInode: Record<string, string> = {};
/** The inode of the host's network namespace, to tell "the rules went" from "the namespace was replaced". */
const nsInode = (x: LabHost) => lab.try(x, "stat -L -c 'netns inode %i' /proc/self/ns/net").stdout.trim();
let sshBefore: Record<string, number> = {};
const sshCounts = () => Object.fromEntries(fleet.hosts.map((x) => [x.name, lab.sshAccepted(x)]));

beforeAll(() => {
  requireNetnsTools();
  e2e.removeState();
  for (const [tool, pkg] of [["sshd", "openssh-server"], ["terraform", "terraform (preinstalled)"], ["sudo", "sudo"]]) {
    if (spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) throw new Error(`${tool} is missing: ${pkg}`);
  }
  fleet = lab.up(6);
  h = Object.fromEntries(fleet.hosts.map((x) => [x.name, x]));
  for (const n of ["lab-1", "lab-2", "lab-3", "lab-4"]) {
    lab.sh(h[n], BASE_DROP.join(" && "));
    setUpInode[n] = nsInode(h[n]);
  }
  lab.sh(h["lab-2"], "iptables -A INPUT -j DROP && iptables -A INPUT -i lo -j ACCEPT");
  lab.sh(h["lab-4"], FOREIGN.join(" && "));
  foreignBefore = [...unmanaged(saveFilter(h["lab-4"], "iptables")), ...unmanaged(saveFilter(h["lab-4"], "ip6tables"))];
  lab.spoofable("lab-5");
  const web = spawn("ip", ["netns", "exec", h["lab-5"].labels.namespace, "python3", "-m", "http.server", "8080", "--bind", "0.0.0.0"], { stdio: "ignore" });
  services.push(web);
  spawnSync("sleep", ["1"]);
  writeFleet();
});

afterAll(() => {
  for (const s of services) s.kill();
  e2e.tearDown();
});

test("before the deploy: loopback is blocked under DROP policies, spoofed packets and outside clients get through", async () => {
  for (const x of ["lab-1", "lab-2", "lab-3", "lab-4"].map((n) => h[n])) {
    const seen = [x.name, loopbackWorks(lab, x, "127.0.0.1"), loopbackWorks(lab, x, "::1")];
    // A clean-clone CI run once saw lab-2's loopback open here (both families) and never again in isolation or
    // in that run's order: on a mismatch, show what the host's namespace held, and whether it is the one set up.
    const diagnosis = seen[1] || seen[2] ? `\n${nsInode(x)} (set up: ${setUpInode[x.name]})\n${lab.try(x, "iptables -S; ip6tables -S; iptables-legacy -S 2>/dev/null").stdout}` : "";
    expect([...seen, diagnosis]).toEqual([x.name, false, false, ""]);
  }
  expect(await spoofReceived(lab, h["lab-5"])).toBe("spoofed-loopback");
  expect(reachableFromOutside(h["lab-5"].address, 8080)).toBe(true);
});

test("cdktf deploy: every reachable host converges; the unreachable one fails with a clear message", () => {
  const r = cdktf("deploy");
  expect(r.status).not.toBe(0);
  expect(r.output).toMatch(/terraform_data\.loopback\["lab-6"\]/);
  expect(r.output).toMatch(/timeout|connection refused/i);
  for (const x of converged()) {
    expect(r.output).toContain(`loopback-policy[${x.name}] result: changed`);
    expect(r.output).toContain(`loopback-policy[${x.name}] confirmed over a new SSH connection`);
  }
});

test("after: TCP over 127.0.0.1 and [::1] works on every host", () => {
  for (const x of converged()) expect([x.name, loopbackWorks(lab, x, "127.0.0.1"), loopbackWorks(lab, x, "::1")]).toEqual([x.name, true, true]);
});

test("after: exactly one of each managed rule, in CIS order (lo ACCEPT then the loopback-source DROP); foreign rules unchanged", () => {
  for (const x of converged()) {
    for (const tool of ["iptables", "ip6tables"]) {
      const s = saveFilter(x, tool);
      const local = x.name === "lab-5" ? ["local-tcp-1"] : [];
      expect([x.name, tool, idsOf(s, "INPUT")]).toEqual([x.name, tool, ["lo-in", "spoof", ...local]]);
      expect(idsOf(s, "OUTPUT")).toEqual(["lo-out"]);
      const [first, second] = firstRules(s, "INPUT", 2);
      expect(first).toMatch(/^-A INPUT -i lo -m comment --comment "lbp:[0-9a-f]{8}:lo-in" -j ACCEPT$/);
      expect(second).toMatch(tool === "iptables" ? /^-A INPUT -s 127\.0\.0\.0\/8 ! -i lo .* -j DROP$/ : /^-A INPUT -s ::1\/128 ! -i lo .* -j DROP$/);
      expect(s.filter((l) => l === "-A INPUT -i lo -j ACCEPT")).toEqual([]);
    }
  }
  expect([...unmanaged(saveFilter(h["lab-4"], "iptables")), ...unmanaged(saveFilter(h["lab-4"], "ip6tables"))]).toEqual(foreignBefore);
});

test("after: the persisted files on each host match its live ruleset", () => {
  for (const x of converged()) {
    for (const [tool, file] of [["iptables", "rules.v4"], ["ip6tables", "rules.v6"]]) {
      const persisted = normalize(readFileSync(`/etc/netns/${x.labels.namespace}/iptables/${file}`, "utf8"));
      expect([x.name, file, persisted]).toEqual([x.name, file, saveFilter(x, tool)]);
    }
  }
});

test("after: spoofed 127.0.0.1 packets from outside are dropped by the anti-spoof rule (its counter rises, nothing is received)", async () => {
  const counter = () => Number(lab.sh(h["lab-5"], "iptables-save -c -t filter").split("\n").find((l) => l.includes(":spoof\""))!.match(/^\[(\d+):/)![1]);
  const before = counter();
  expect(await spoofReceived(lab, h["lab-5"])).toBe("");
  expect(counter()).toBeGreaterThan(before);
});

test("after: the local-only port answers over lo and not from outside", () => {
  expect(reachableFromOutside(h["lab-5"].address, 8080)).toBe(false);
  expect(lab.try(h["lab-5"], "python3 -c \"import urllib.request;urllib.request.urlopen('http://127.0.0.1:8080/',timeout=3)\"").status).toBe(0);
});

test("the next deploy converges the host that was unreachable", () => {
  writeFleet({ lab6Port: 22 });
  const r = cdktf("deploy");
  expect(r.status).toBe(0);
  expect(r.output).toContain("loopback-policy[lab-6] confirmed over a new SSH connection");
  expect(idsOf(saveFilter(h["lab-6"], "iptables"), "INPUT")).toEqual(["lo-in", "spoof"]);
});

test("deploying again with no change runs no provisioner and opens no SSH connection", () => {
  sshBefore = sshCounts();
  const r = cdktf("deploy");
  expect(r.status).toBe(0);
  expect(r.output).not.toContain("loopback-policy[");
  expect(sshCounts()).toEqual(sshBefore);
});

test("changing one host's policy re-runs only that host", () => {
  sshBefore = sshCounts();
  writeFleet({ lab6Port: 22, lab2Policy: { allowEstablished: true } });
  const r = cdktf("deploy");
  expect(r.status).toBe(0);
  const after = sshCounts();
  for (const x of fleet.hosts) {
    if (x.name === "lab-2") expect(after[x.name]).toBeGreaterThan(sshBefore[x.name]);
    else expect([x.name, after[x.name]]).toEqual([x.name, sshBefore[x.name]]);
  }
  expect(idsOf(saveFilter(h["lab-2"], "iptables"), "INPUT")).toEqual(["lo-in", "spoof", "established-in"]);
  expect(managed(saveFilter(h["lab-2"], "iptables")).length).toBe(5);
});

test("terraform apply -replace of a host re-runs it and keeps its rules (no destroy-time block runs for the replaced instance, and none may remove a newer instance's rules)", () => {
  const before = managed(saveFilter(h["lab-1"], "iptables"));
  const r = spawnSync("terraform", ["apply", "-auto-approve", "-no-color", '-replace=terraform_data.loopback["lab-1"]'], {
    cwd: join(e2e.work, "cdktf.out", "stacks", "e2e"), encoding: "utf8", env: process.env, timeout: 5 * 60_000,
  });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("loopback-policy[lab-1] result: unchanged");
  expect(r.stdout).toMatch(/loopback-policy\[lab-1\] ipv4: persisted/);
  expect(r.stdout).not.toMatch(/loopback-policy\[lab-1\] ipv4: removed/);
  expect(managed(saveFilter(h["lab-1"], "iptables"))).toEqual(before);
  expect(before).toHaveLength(3);
});

test("cdktf destroy removes exactly the managed rules and re-persists", () => {
  const r = cdktf("destroy");
  expect(r.status).toBe(0);
  for (const x of fleet.hosts) {
    expect([x.name, managed(saveFilter(x, "iptables")), managed(saveFilter(x, "ip6tables"))]).toEqual([x.name, [], []]);
    expect(readFileSync(`/etc/netns/${x.labels.namespace}/iptables/rules.v4`, "utf8")).not.toContain("lbp:");
  }
  expect([...unmanaged(saveFilter(h["lab-4"], "iptables")), ...unmanaged(saveFilter(h["lab-4"], "ip6tables"))]).toEqual(foreignBefore);
});
