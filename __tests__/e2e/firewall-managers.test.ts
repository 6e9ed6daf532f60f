import { ChildProcess, spawn, spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "fs";
import { join } from "path";
import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { loopbackWorks, reachableFromOutside, spoofReceived } from "../support/lab-traffic";
import { hostScript, requireNetnsTools } from "../support/netns";
import { assertOwnEtc, stageUfw } from "../support/etc-staging";

/**
 * otherFirewall: "manage" for real: a lab of two hosts deployed with the cdktf CLI (terraform_data over SSH), one
 * run by ufw (active, its default deny incoming), one by a native nftables ruleset (policy drop in inet filter and a
 * second dropping base chain of another table on the input hook). Runs its own lab (LBP_LAB_ID=9, namespaces
 * lbp-lab9-1 and lbp-lab9-2) and stack, so the other e2e suites can run at the same time. Fails, never skips,
 * when it cannot run.
 *
 * Each host's firewall configuration is its own: ip netns exec (which starts the host's sshd, and runs every
 * command of this file on the host) bind-mounts /etc/netns/<ns>/ufw over /etc/ufw and /etc/netns/<ns>/nftables.conf
 * over /etc/nftables.conf. Those entries are made before `lab.up()` starts sshd, so its sessions see them too.
 */
jest.setTimeout(15 * 60_000);

const e2e = new E2eStack("e2efwmgr", "9");
const lab = e2e.lab;
let fleet: LabFleet;
let ufwHost: LabHost;
let nftHost: LabHost;
const services: ChildProcess[] = [];

const NS_UFW = "lbp-lab9-1";
const NS_NFT = "lbp-lab9-2";
const PORT = 8080; // the local-only port (tcp/8080, as in the other e2e suites)
let createdEtcNetns = false;

/**
 * The user's own ruleset of __tests__/netns/nftables.test.ts (policy drop in inet filter with an ssh accept, a set,
 * a drop; a second base chain of another table on the input hook that drops what it does not accept), which also
 * lets in what this suite needs to see a difference: the local-only port and UDP 9999 (the spoofed datagram's port),
 * and ICMPv6 (IPv6 needs neighbour discovery to reach the host from outside at all).
 */
const USER_CONF = `#!/usr/sbin/nft -f
flush ruleset
table inet filter {
	set admins {
		type ipv4_addr
		elements = { 192.0.2.10 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ip saddr @admins tcp dport 22 accept
		tcp dport 22 accept
		tcp dport ${PORT} accept
		udp dport 9999 accept
		meta l4proto ipv6-icmp accept
		ip saddr 198.51.100.7 drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
table ip extra {
	chain in {
		type filter hook input priority 10; policy drop;
		tcp dport { 22, ${PORT} } accept
		udp dport 9999 accept
	}
}
`;

/** The ufw admin's own rules: SSH first (before ufw is enabled, or SSH is cut), then what the suite must see blocked. */
const UFW_ADMIN = ["allow 22/tcp", `allow ${PORT}/tcp`, "allow 9999/udp"];

const POLICY = { otherFirewall: "manage" as const, localOnlyPorts: [`tcp/${PORT}`] };

const ufwFile = (name: string) => readFileSync(join("/etc/netns", NS_UFW, "ufw", name));
const ufwFiles = () => [ufwFile("user.rules"), ufwFile("user6.rules")];
const nftConf = () => readFileSync(join("/etc/netns", NS_NFT, "nftables.conf"));
const nftRecord = join("/etc/netns", NS_NFT, "loopback-policy", "loopback-policy.nft");
/** The nft ruleset of a host without counters (they move with traffic). */
const ruleset = (x: LabHost) => lab.sh(x, "nft list ruleset").replace(/ packets \d+ bytes \d+/g, "");
/** iptables-save / ip6tables-save of the filter table, without comment lines and counters. */
const save = (x: LabHost, tool = "iptables") =>
  lab.sh(x, `${tool}-save -t filter`).split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
const ufwUserInput = (x: LabHost, tool = "iptables") => save(x, tool).filter((l) => /^-A ufw6?-user-input /.test(l));

/** Packets counted by ufw's rule for our anti-spoof drop (ufw keeps no comment in the kernel: matched by its text). */
function ufwSpoofCount(): number {
  const line = lab.sh(ufwHost, "iptables-save -c -t filter").split("\n").find((l) => l.endsWith("-A ufw-user-input -s 127.0.0.0/8 -j DROP"));
  if (!line) throw new Error(`no "-A ufw-user-input -s 127.0.0.0/8 -j DROP" in iptables-save -c of ${ufwHost.name}`);
  return Number(line.match(/^\[(\d+):/)![1]);
}

/** Packets counted by our spoof-ipv4 drop in table inet loopback_policy, chain input. */
function nftSpoofCount(): number {
  const text = lab.sh(nftHost, "nft list table inet loopback_policy");
  const input = text.match(/chain input \{[^}]*\}/);
  const m = input?.[0].match(/ip saddr 127\.0\.0\.0\/8 counter packets (\d+) bytes \d+ drop comment "lbp:[0-9a-f]{8}:spoof-ipv4"/);
  if (!m) throw new Error(`no counted spoof-ipv4 drop in chain input of table inet loopback_policy on ${nftHost.name}:\n${text}`);
  return Number(m[1]);
}

/** The base chains on the input hook of an `nft list ruleset`, each as "family table chain" and its text. */
function inputHookChains(text: string): { name: string; body: string }[] {
  const out: { name: string; body: string }[] = [];
  let table = "";
  for (const block of text.split(/\n(?=\S)/)) {
    const t = block.match(/^table (\S+ \S+) \{/);
    if (t) table = t[1];
    for (const c of block.matchAll(/\tchain (\S+) \{\n([\s\S]*?)\n\t\}/g)) {
      if (/type filter hook input /.test(c[2])) out.push({ name: `${table} ${c[1]}`, body: c[2] });
    }
  }
  return out;
}

/** An HTTP server on [::]:PORT (both families) inside the host, so a connection to the port has something to reach. */
function serve(x: LabHost): void {
  const s = spawn("ip", ["netns", "exec", x.labels.namespace, "python3", "-m", "http.server", String(PORT), "--bind", "::"], { stdio: "ignore" });
  services.push(s);
}

/** An HTTP GET of the host's local-only port over loopback, from inside the host. */
const overLoopback = (x: LabHost, addr: string) =>
  lab.try(x, `python3 -c "import urllib.request;urllib.request.urlopen('http://${addr.includes(":") ? `[${addr}]` : addr}:${PORT}/',timeout=3)"`).status === 0;

/** Run a command on a host over SSH (its sessions see the host's own /run/loopback-policy). */
const ssh = (x: LabHost, command: string) =>
  spawnSync("ssh", ["-i", fleet.connection.privateKeyPath, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3", `root@${x.address}`, command], { encoding: "utf8" });

const cdktf = (command: "deploy" | "destroy") => e2e.cdktf(command);
const sshCounts = () => Object.fromEntries(fleet.hosts.map((x) => [x.name, lab.sshAccepted(x)]));

/** What each host was before the deploy: destroy and the rollback must bring these back. */
let before: { ufwFiles: Buffer[]; ufwLive: string[][]; nftConf: Buffer; nftRuleset: string };
let generation = "";
let liveAfterDeploy: { ufw: string[][]; nft: string };

beforeAll(() => {
  requireNetnsTools();
  for (const [tool, pkg] of [["sshd", "openssh-server"], ["ssh", "openssh-client"], ["terraform", "terraform (preinstalled)"], ["ufw", "ufw"], ["nft", "nftables"]]) {
    if (spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) throw new Error(`${tool} is missing: ${pkg}`);
  }
  e2e.removeState();
  // The hosts' own /etc entries, before sshd starts (lab.up) so that its sessions see them.
  createdEtcNetns = !existsSync("/etc/netns");
  for (const ns of [NS_UFW, NS_NFT]) rmSync(join("/etc/netns", ns), { recursive: true, force: true });
  stageUfw(NS_UFW);
  mkdirSync(join("/etc/netns", NS_NFT), { recursive: true });
  writeFileSync(join("/etc/netns", NS_NFT, "nftables.conf"), USER_CONF, { mode: 0o644 });

  fleet = lab.up(2);
  [ufwHost, nftHost] = fleet.hosts;
  if (ufwHost.labels.namespace !== NS_UFW || nftHost.labels.namespace !== NS_NFT) throw new Error(`unexpected lab namespaces: ${fleet.hosts.map((x) => x.labels.namespace)}`);
  // Before anything is written through the hosts: their /etc/ufw and /etc/nftables.conf are the staged ones.
  assertOwnEtc(NS_UFW, "ufw");
  assertOwnEtc(NS_NFT, "nftables.conf");

  // ufw: the admin's rules (SSH first), then enabled with its default deny incoming.
  for (const r of UFW_ADMIN) lab.sh(ufwHost, `ufw ${r} >/dev/null`);
  lab.sh(ufwHost, "ufw --force enable >/dev/null");
  // nftables: the distro's way, from /etc/nftables.conf.
  lab.sh(nftHost, "nft -f /etc/nftables.conf");
  for (const x of fleet.hosts) {
    lab.spoofable(x.name);
    serve(x);
  }
  spawnSync("sleep", ["1"]);
  before = { ufwFiles: ufwFiles(), ufwLive: [ufwUserInput(ufwHost), ufwUserInput(ufwHost, "ip6tables")], nftConf: nftConf(), nftRuleset: ruleset(nftHost) };
  e2e.writeFleet({ ...fleet, ...POLICY, rollbackSeconds: 10, connection: { ...fleet.connection, timeoutSeconds: 20 } });
});

afterAll(() => {
  for (const s of services) s.kill();
  try {
    e2e.tearDown(); // lab down removes the namespaces and /etc/netns/lbp-lab9-*
  } finally {
    for (const ns of [NS_UFW, NS_NFT]) rmSync(join("/etc/netns", ns), { recursive: true, force: true });
    if (createdEtcNetns) {
      try {
        rmdirSync("/etc/netns");
      } catch {
        // another lab still has entries in it
      }
    }
  }
});

test("before the deploy: ufw is active with its default deny incoming, nftables drops loopback; spoofed packets and outside clients get through to both", async () => {
  const status = lab.sh(ufwHost, "ufw status verbose");
  expect(status).toMatch(/^Status: active$/m);
  expect(status).toMatch(/^Default: deny \(incoming\)/m);
  expect([loopbackWorks(lab, nftHost, "127.0.0.1"), loopbackWorks(lab, nftHost, "::1")]).toEqual([false, false]);
  for (const x of fleet.hosts) {
    expect([x.name, await spoofReceived(lab, x)]).toEqual([x.name, "spoofed-loopback"]);
    expect([x.name, reachableFromOutside(x.address, PORT), reachableFromOutside(x.labels.ipv6Address, PORT)]).toEqual([x.name, true, true]);
  }
});

test("cdktf deploy succeeds on both hosts through their firewall manager; TCP over 127.0.0.1 and ::1 works on both", () => {
  const r = cdktf("deploy");
  expect(r.status).toBe(0);
  expect(r.output).toContain(`loopback-policy[${ufwHost.name}] host: ufw is active (ufw status); managing loopback through ufw (otherFirewall: manage)`);
  expect(r.output).toContain(`loopback-policy[${nftHost.name}] host: a native nftables ruleset is loaded (table inet filter); managing loopback through nftables (otherFirewall: manage)`);
  for (const x of fleet.hosts) {
    expect(r.output).toContain(`loopback-policy[${x.name}] result: changed`);
    expect(r.output).toContain(`loopback-policy[${x.name}] confirmed over a new SSH connection`);
    expect([x.name, loopbackWorks(lab, x, "127.0.0.1"), loopbackWorks(lab, x, "::1")]).toEqual([x.name, true, true]);
  }
  // Persisted the way each firewall keeps its own rules: ufw's files; an include at the end of /etc/nftables.conf.
  expect(r.output).toContain(`loopback-policy[${ufwHost.name}] ipv4: persisted (ufw): wrote /etc/ufw/user.rules`);
  expect(r.output).toContain(`loopback-policy[${ufwHost.name}] ipv6: persisted (ufw): wrote /etc/ufw/user6.rules`);
  expect(r.output).toContain(`loopback-policy[${nftHost.name}] nftables: persisted (debian): added one line at the end of /etc/nftables.conf`);
  generation = lab.sh(nftHost, "nft list table inet loopback_policy").match(/"lbp:([0-9a-f]{8}):lo-in"/)![1];
  liveAfterDeploy = { ufw: [ufwUserInput(ufwHost), ufwUserInput(ufwHost, "ip6tables")], nft: ruleset(nftHost) };
});

test("spoofed 127.0.0.1 packets from outside are counted and dropped on both hosts", async () => {
  const u0 = ufwSpoofCount();
  expect(await spoofReceived(lab, ufwHost)).toBe("");
  expect(ufwSpoofCount()).toBe(u0 + 1);

  const n0 = nftSpoofCount();
  expect(await spoofReceived(lab, nftHost)).toBe("");
  expect(nftSpoofCount()).toBe(n0 + 1);
});

test("the local-only port refuses connections from outside the host (IPv4 and IPv6) and answers over loopback", () => {
  for (const x of fleet.hosts) {
    expect([x.name, reachableFromOutside(x.address, PORT), reachableFromOutside(x.labels.ipv6Address, PORT)]).toEqual([x.name, false, false]);
    expect([x.name, overLoopback(x, "127.0.0.1"), overLoopback(x, "::1")]).toEqual([x.name, true, true]);
    // SSH, which the admin allows, still reaches the host from outside.
    expect([x.name, reachableFromOutside(x.address, 22)]).toEqual([x.name, true]);
  }
});

test("the CIS audit reads the loopback rules: ufw status verbose on the ufw host, nft list ruleset on the nftables host", () => {
  const status = lab.sh(ufwHost, "ufw status verbose");
  expect(status).toMatch(/^Anywhere on lo +ALLOW IN +Anywhere/m);
  expect(status).toMatch(/^Anywhere +ALLOW OUT +Anywhere on lo/m);
  expect(status).toMatch(/^Anywhere +DENY IN +127\.0\.0\.0\/8/m);
  expect(status).toMatch(/^Anywhere \(v6\) on lo +ALLOW IN +Anywhere \(v6\)/m);
  expect(status).toMatch(/^Anywhere \(v6\) +ALLOW OUT +Anywhere \(v6\) on lo/m);
  expect(status).toMatch(/^Anywhere \(v6\) +DENY IN +::1/m);

  const chains = inputHookChains(lab.sh(nftHost, "nft list ruleset"));
  // Every filtering base chain on the input hook accepts lo first (the user's two and ours)...
  expect(chains.map((c) => c.name).sort()).toEqual(["inet filter input", "inet loopback_policy input", "ip extra in"]);
  for (const c of chains) expect([c.name, c.body.split("\n").find((l) => !/^\t\t(type|set|elements|\})/.test(l) && l.trim())?.trim()]).toEqual([c.name, expect.stringMatching(/^iif "lo" (counter packets \d+ bytes \d+ )?accept/)]);
  // ...and one of them drops both loopback sources from anywhere else.
  const drops = chains.filter((c) => /ip saddr 127\.0\.0\.0\/8 counter packets \d+ bytes \d+ drop/.test(c.body) && /ip6 saddr ::1 counter packets \d+ bytes \d+ drop/.test(c.body));
  expect(drops.map((c) => c.name)).toEqual(["inet loopback_policy input"]);
});

test("a second cdktf deploy with no change opens no SSH connection", () => {
  const sshBefore = sshCounts();
  const r = cdktf("deploy");
  expect(r.status).toBe(0);
  expect(r.output).not.toContain("loopback-policy[");
  expect(sshCounts()).toEqual(sshBefore);
});

test("a reboot brings the managed rules back: ufw started from its files, nftables from /etc/nftables.conf", () => {
  // ufw: everything flushed (as at boot), then ufw starts from its own files.
  lab.sh(ufwHost, "iptables -F && iptables -X && ip6tables -F && ip6tables -X && iptables -P INPUT ACCEPT && ip6tables -P INPUT ACCEPT");
  expect(ufwUserInput(ufwHost)).toEqual([]);
  lab.sh(ufwHost, "ufw --force enable >/dev/null");
  expect([ufwUserInput(ufwHost), ufwUserInput(ufwHost, "ip6tables")]).toEqual(liveAfterDeploy.ufw);
  expect(ufwUserInput(ufwHost)).toContain("-A ufw-user-input -s 127.0.0.0/8 -j DROP");
  expect(lab.sh(ufwHost, "ufw status verbose")).toMatch(/^Anywhere +DENY IN +127\.0\.0\.0\/8/m);

  // nftables: the Debian way (nftables.service loads /etc/nftables.conf, which includes ours after the user's).
  expect(readFileSync(join("/etc/netns", NS_NFT, "nftables.conf"), "utf8")).toContain('include "/etc/loopback-policy/loopback-policy.nft"');
  lab.sh(nftHost, "nft flush ruleset && nft -f /etc/nftables.conf");
  expect(ruleset(nftHost)).toBe(liveAfterDeploy.nft);
  expect(ruleset(nftHost)).toContain(`comment "lbp:${generation}:spoof-ipv4"`);

  for (const x of fleet.hosts) expect([x.name, loopbackWorks(lab, x, "127.0.0.1"), loopbackWorks(lab, x, "::1"), reachableFromOutside(x.address, PORT)]).toEqual([x.name, true, true, false]);
});

test("cdktf destroy returns each host to what it was: ufw's files byte for byte; /etc/nftables.conf byte for byte and no table inet loopback_policy", () => {
  const r = cdktf("destroy");
  expect(r.status).toBe(0);
  const [user, user6] = ufwFiles();
  expect(user.equals(before.ufwFiles[0])).toBe(true);
  expect(user6.equals(before.ufwFiles[1])).toBe(true);
  expect([ufwUserInput(ufwHost), ufwUserInput(ufwHost, "ip6tables")]).toEqual(before.ufwLive);

  expect(nftConf().equals(before.nftConf)).toBe(true);
  expect(lab.try(nftHost, "nft list table inet loopback_policy").status).not.toBe(0);
  expect(ruleset(nftHost)).toBe(before.nftRuleset);
  expect(existsSync(nftRecord)).toBe(false);
  // What the deploy changed is undone: loopback is blocked again by the user's ruleset, the port reachable.
  expect(loopbackWorks(lab, nftHost, "127.0.0.1")).toBe(false);
  for (const x of fleet.hosts) expect([x.name, reachableFromOutside(x.address, PORT)]).toEqual([x.name, true]);
});

test("a session cut right after the change was applied rolls back on its own: each host as it was, nothing persisted", async () => {
  const gen = "c0ffee00";
  const cutAfterChange = (x: LabHost, changed: RegExp): Promise<string> => {
    const file = join(e2e.work, `apply-${x.name}.sh`);
    writeFileSync(file, hostScript("apply", { ...POLICY, rollbackSeconds: 5 }, gen, x.name));
    const client = spawn("ssh", ["-i", fleet.connection.privateKeyPath, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
      `root@${x.address}`, `f=$(mktemp '${e2e.work}/upload.XXXXXX') && cat > "$f" && /bin/sh "$f"`], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => {
        client.kill("SIGKILL");
        resolve(out);
      }, 60_000);
      client.stdout.on("data", (d) => {
        out += d;
        if (changed.test(out)) {
          client.kill("SIGKILL");
          clearTimeout(timer);
          resolve(out);
        }
      });
      client.on("exit", () => {
        clearTimeout(timer);
        resolve(out);
      });
      client.stdin.end(readFileSync(file));
    });
  };
  const [outUfw, outNft] = await Promise.all([cutAfterChange(ufwHost, /ipv4: ufw: added/), cutAfterChange(nftHost, /nftables: added table inet loopback_policy/)]);
  expect(outUfw).toMatch(/ipv4: ufw: added/);
  expect(outNft).toMatch(/nftables: added table inet loopback_policy/);
  // The change was live when the session was cut (the window is 5 s): what follows is the rollback's doing.
  expect(ufwUserInput(ufwHost)).toContain("-A ufw-user-input -s 127.0.0.0/8 -j DROP");
  expect(lab.sh(nftHost, "nft list table inet loopback_policy")).toContain(`comment "lbp:${gen}:spoof-ipv4"`);

  // Rolled back within the window (5 s) plus a margin.
  const deadline = Date.now() + 30_000;
  const rolledBack = () => ssh(ufwHost, `cat /run/loopback-policy/rolledback.${gen}`).status === 0 && ssh(nftHost, `cat /run/loopback-policy/rolledback.${gen}`).status === 0;
  while (!rolledBack() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  for (const x of fleet.hosts) expect([x.name, ssh(x, `cat /run/loopback-policy/rolledback.${gen}`).stdout]).toEqual([x.name, expect.stringMatching(new RegExp(`no new SSH connection confirmed generation ${gen} within 5s`))]);

  const [user, user6] = ufwFiles();
  expect(user.equals(before.ufwFiles[0])).toBe(true);
  expect(user6.equals(before.ufwFiles[1])).toBe(true);
  expect([ufwUserInput(ufwHost), ufwUserInput(ufwHost, "ip6tables")]).toEqual(before.ufwLive);
  expect(nftConf().equals(before.nftConf)).toBe(true);
  expect(ruleset(nftHost)).toBe(before.nftRuleset);
  expect(existsSync(nftRecord)).toBe(false);
  expect(loopbackWorks(lab, nftHost, "127.0.0.1")).toBe(false);
});
