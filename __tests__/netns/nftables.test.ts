import { execFileSync, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { NetnsHost, hostScript, netnsHosts } from "../support/netns";

/**
 * otherFirewall: "manage" on a host run by a native nftables ruleset (issue 13): the policy in nft's terms, in a
 * table of our own plus a lo accept at the top of every filtering base chain on the input and output hooks.
 * Each host gets its own /etc/nftables.conf (ip netns exec bind-mounts /etc/netns/<ns>/nftables.conf over it).
 */
jest.setTimeout(180_000);

const host = netnsHosts();

/** The user's own ruleset: policy drop in inet filter (an ssh accept, a set, a drop), and a second base chain of
 * another table on the input hook that drops what it does not accept. */
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
		tcp dport 22 accept
	}
}
`;

/** A host run by nftables: USER_CONF (or conf) as its /etc/nftables.conf, loaded the distro's way. */
function nftHost(label: string, conf = USER_CONF): NetnsHost {
  const h = host(label);
  const etc = join("/etc/netns", h.ns);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "nftables.conf"), conf, { mode: 0o644 });
  chmodSync(join(etc, "nftables.conf"), 0o644);
  h.sh("nft -f /etc/nftables.conf");
  return h;
}

const confOf = (h: NetnsHost) => readFileSync(join("/etc/netns", h.ns, "nftables.conf"), "utf8");
/** The ruleset without counters (they move with traffic). */
const ruleset = (h: NetnsHost) => h.sh("nft list ruleset").replace(/ packets \d+ bytes \d+/g, "");
/** The rules of one chain, trimmed, without counters. */
const rulesOf = (h: NetnsHost, chain: string) =>
  h.sh(`nft list chain ${chain}`).split("\n").map((l) => l.trim().replace(/ packets \d+ bytes \d+/g, "")).filter((l) => l && !/^(table|chain|type|\})/.test(l));
const manage = { otherFirewall: "manage" as const };
const ok = (r: { status: number; stdout: string; stderr: string }) => {
  expect({ status: r.status, failed: r.stderr.split("\n").filter((l) => l.includes("FAILED")) }).toEqual({ status: 0, failed: [] });
  return r;
};
const recordFile = (h: NetnsHost) => join(h.env.LBP_RECORD_DIR, "loopback-policy.nft");
const includeLine = (h: NetnsHost) => `include "${recordFile(h)}" # loopback-policy: its rules, after yours; destroy removes this line`;

/** A reboot the Debian way: everything goes, then nftables.service loads /etc/nftables.conf. */
const reboot = (h: NetnsHost) => h.sh("nft flush ruleset && nft -f /etc/nftables.conf");

describe("native nftables in charge, otherFirewall manage", () => {
  test("GIVEN policy drop in inet filter and a second dropping base chain of another table WHEN apply and confirm run THEN loopback works over 127.0.0.1 and ::1, the CIS audit reads the lo accept and the saddr drops, a re-run changes nothing, a reboot keeps it, remove restores the host", () => {
    const h = nftHost("nft-proof");
    const before = ruleset(h);
    expect(h.loopbackWorks("127.0.0.1")).toBe(false);
    expect(h.loopbackWorks("::1")).toBe(false);

    const a = ok(h.run("apply", manage));
    expect(a.stdout).toContain("host: a native nftables ruleset is loaded (table inet filter); managing loopback through nftables (otherFirewall: manage)");
    expect(a.stdout).toContain("nftables: added table inet loopback_policy; inet filter input: added lo-in; inet filter output: added lo-out; ip extra in: added lo-in");
    expect(a.stdout).toMatch(/ipv4: verified: tcp 127\.0\.0\.1 ok; counters lo-in 0 -> [1-9]/);
    expect(a.stdout).toMatch(/ipv6: verified: tcp ::1 ok/);
    expect(a.stdout).toContain("result: changed; rollback armed");
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);

    // Every filtering base chain on input/output starts with our lo accept; the user's rules follow, in order.
    expect(rulesOf(h, "inet filter input")).toEqual([
      'iif "lo" accept comment "lbp:0badc0de:lo-in"', "ip saddr @admins tcp dport 22 accept", "tcp dport 22 accept", "ip saddr 198.51.100.7 drop",
    ]);
    expect(rulesOf(h, "ip extra in")).toEqual(['iif "lo" accept comment "lbp:0badc0de:lo-in"', "tcp dport 22 accept"]);
    expect(rulesOf(h, "inet filter output")).toEqual(['oif "lo" accept comment "lbp:0badc0de:lo-out"']);
    expect(rulesOf(h, "inet filter forward")).toEqual([]);
    expect(rulesOf(h, "inet loopback_policy input")).toEqual([
      'iif "lo" counter accept comment "lbp:0badc0de:lo-in"',
      'ip saddr 127.0.0.0/8 counter drop comment "lbp:0badc0de:spoof-ipv4"',
      'ip6 saddr ::1 counter drop comment "lbp:0badc0de:spoof-ipv6"',
    ]);
    // The CIS audit (nft list ruleset, the input hook): lo accept and both saddr drops.
    const inputHook = h.sh("nft list ruleset | awk '/hook input/,/}/'");
    expect(inputHook).toMatch(/iif "lo" accept/);
    expect(inputHook).toMatch(/ip saddr 127\.0\.0\.0\/8 counter packets \d+ bytes \d+ drop/);
    expect(inputHook).toMatch(/ip6 saddr ::1 counter packets \d+ bytes \d+ drop/);

    const c = ok(h.run("confirm", manage));
    expect(c.stdout).toContain("confirmed over a new SSH connection; rollback disarmed");
    expect(c.stdout).toContain(`nftables: persisted (debian): wrote ${recordFile(h)} (table inet loopback_policy; 3 rules into inet filter input, inet filter output, ip extra in)`);
    expect(c.stdout).toContain(`nftables: persisted (debian): added one line at the end of /etc/nftables.conf: ${includeLine(h)}`);
    expect(confOf(h)).toBe(USER_CONF + includeLine(h) + "\n");

    // A re-run changes nothing.
    const live = ruleset(h);
    const again = ok(h.run("apply", manage));
    expect(again.stdout).toContain("nftables: unchanged (table inet loopback_policy and 3 rules in 3 other base chains in place, in order)");
    expect(again.stdout).toContain("result: unchanged");
    expect(ruleset(h)).toBe(live);
    expect(ok(h.run("confirm", manage)).stdout).toContain("already includes it");
    expect(confOf(h)).toBe(USER_CONF + includeLine(h) + "\n");
    expect(ok(h.run("check", manage)).stdout).toContain("result: compliant");

    // A reboot: the distro loads /etc/nftables.conf, which loads ours after the user's ruleset.
    reboot(h);
    expect(ruleset(h)).toBe(live);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);
    expect(ok(h.run("check", manage)).stdout).toContain("nftables: compliant");

    const rm = ok(h.run("remove", manage));
    expect(rm.stdout).toContain("nftables: removed generation 0badc0de: deleted table inet loopback_policy; inet filter input: removed lbp:0badc0de:lo-in");
    expect(rm.stdout).toContain(`nftables: removed the line ${includeLine(h)} from /etc/nftables.conf`);
    expect(ruleset(h)).toBe(before);
    expect(confOf(h)).toBe(USER_CONF);
    expect(existsSync(recordFile(h))).toBe(false);
    expect(h.loopbackWorks("127.0.0.1")).toBe(false);
  });

  test("GIVEN a peer on a veth link WHEN it sends packets from 127.0.0.1 and connects to a local-only port THEN the spoofed packets are counted and dropped, the port refuses it and still serves loopback", () => {
    const conf = USER_CONF.replace("\t\ttcp dport 22 accept\n\t\tip saddr", "\t\ttcp dport 22 accept\n\t\ttcp dport 8080 accept\n\t\tip saddr")
      .replace("\t\ttcp dport 22 accept\n\t}\n}\n", "\t\ttcp dport { 22, 8080 } accept\n\t}\n}\n");
    const h = nftHost("nft-spoof", conf);
    const peer = host("nft-peer");
    const [a, b] = [`lbpa${process.pid % 10000}`, `lbpb${process.pid % 10000}`];
    execFileSync("ip", ["link", "add", a, "netns", h.ns, "type", "veth", "peer", "name", b, "netns", peer.ns]);
    h.sh(`ip addr add 10.231.7.1/24 dev ${a} && ip link set ${a} up && sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.${a}.rp_filter=0 net.ipv4.conf.${a}.route_localnet=1 net.ipv4.conf.${a}.accept_local=1`);
    // A static neighbour: an ARP request sent for a packet from 127.0.0.1 would carry that source and be ignored.
    const mac = h.sh(`cat /sys/class/net/${a}/address`).trim();
    peer.sh(`ip addr add 10.231.7.2/24 dev ${b} && ip link set ${b} up && ip neigh replace 10.231.7.1 lladdr ${mac} dev ${b} nud permanent`);
    ok(h.run("apply", { ...manage, localOnlyPorts: ["tcp/8080"], rollbackSeconds: 0 }));
    expect(rulesOf(h, "inet loopback_policy input")).toContain('tcp dport 8080 counter drop comment "lbp:0badc0de:local-tcp"');

    const spoofed = () => Number(h.sh("nft list chain inet loopback_policy input").match(/ip saddr 127\.0\.0\.0\/8 counter packets (\d+) bytes \d+ drop comment "lbp:0badc0de:spoof-ipv4"/)![1]);
    const sent0 = spoofed();
    // Raw IPv4/UDP packets with source 127.0.0.1 to the host's address, from the peer.
    peer.sh(`python3 -c "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
src, dst = socket.inet_aton('127.0.0.1'), socket.inet_aton('10.231.7.1')
udp = struct.pack('!HHHH', 40000, 9, 8 + 4, 0) + b'lbp!'
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
for _ in range(5): s.sendto(ip + udp, ('10.231.7.1', 0))
"`);
    expect(spoofed() - sent0).toBe(5);

    // Local-only: the peer cannot reach 8080, loopback can.
    h.sh("python3 -c \"import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',8080));s.listen(5);time.sleep(30)\" >/dev/null 2>&1 & sleep 0.5");
    const connect = (where: NetnsHost, addr: string) =>
      where.try(`python3 -c "import socket;c=socket.socket();c.settimeout(1);c.connect(('${addr}',8080))"`).status === 0;
    expect(connect(h, "127.0.0.1")).toBe(true);
    expect(connect(peer, "10.231.7.1")).toBe(false);
    expect(h.sh("nft list chain inet loopback_policy input")).toMatch(/tcp dport 8080 counter packets [1-9]\d* bytes/);
  });

  test("GIVEN a cut session (no confirm) THEN the timer restores our part of the ruleset, keeps a rule another tool added meanwhile, and confirm then says it rolled back", async () => {
    const h = nftHost("nft-rollback");
    const before = ruleset(h);
    ok(h.run("apply", { ...manage, rollbackSeconds: 4, verify: "tcp" }));
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    h.sh("nft add rule inet filter input tcp dport 2222 accept");
    const deadline = Date.now() + 30_000;
    // The timer marks the rollback, then logs it: poll for the log line (its last step), not the mark.
    const log = () => (existsSync(join(h.env.LBP_STATE_DIR, "rollback.log")) ? readFileSync(join(h.env.LBP_STATE_DIR, "rollback.log"), "utf8") : "");
    while (!/rolled back at/.test(log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(log()).toMatch(/rolled back at .*no new SSH connection confirmed generation 0badc0de within 4s/);
    expect(ruleset(h)).toBe(before.replace("\t\tip saddr 198.51.100.7 drop\n", "\t\tip saddr 198.51.100.7 drop\n\t\ttcp dport 2222 accept\n"));
    expect(h.loopbackWorks("127.0.0.1")).toBe(false);
    const c = h.run("confirm", manage);
    expect(c.status).toBe(1);
    expect(c.stderr).toContain("the change was rolled back on the host");
    expect(confOf(h)).toBe(USER_CONF);
  });

  test("GIVEN another tool's rule commented like ours, and our lo accept moved down and duplicated WHEN apply runs THEN the lookalike stays and is reported, ours is moved to the top once", () => {
    const h = nftHost("nft-lookalike");
    ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    const handle = h.sh("nft -a list chain inet filter input").match(/iif "lo" accept comment "lbp:0badc0de:lo-in" # handle (\d+)/)![1];
    h.sh(`nft delete rule inet filter input handle ${handle}`);
    h.sh(`nft add rule inet filter input iif "lo" accept comment '"lbp:0badc0de:lo-in"'`);
    h.sh(`nft add rule inet filter input iif "lo" accept comment '"lbp:0badc0de:lo-in"'`);
    h.sh(`nft insert rule inet filter input tcp dport 9 accept comment '"lbp:0badc0de:lo-in"'`);
    const r = ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    expect(r.stdout).toContain('nftables: left alone, not ours: "tcp dport 9 accept comment "lbp:0badc0de:lo-in"" in inet filter input');
    expect(r.stdout).toContain("nftables: inet filter input: moved lo-in");
    expect(rulesOf(h, "inet filter input")).toEqual([
      'iif "lo" accept comment "lbp:0badc0de:lo-in"', 'tcp dport 9 accept comment "lbp:0badc0de:lo-in"',
      "ip saddr @admins tcp dport 22 accept", "tcp dport 22 accept", "ip saddr 198.51.100.7 drop",
    ]);
    // Remove takes exactly ours: the lookalike and the user's rules stay, in order.
    ok(h.run("remove", manage));
    expect(rulesOf(h, "inet filter input")).toEqual([
      'tcp dport 9 accept comment "lbp:0badc0de:lo-in"', "ip saddr @admins tcp dport 22 accept", "tcp dport 22 accept", "ip saddr 198.51.100.7 drop",
    ]);
  });

  test("GIVEN exactly our lo accept, tagged like ours with a generation never deployed here, written by someone else WHEN apply and remove run THEN it is reported, never moved or removed", () => {
    const h = nftHost("nft-foreigntag");
    // Another tool (or a copy of a ruleset from a host we manage) put our exact rule and tag shape first.
    h.sh(`nft insert rule inet filter input iif "lo" accept comment '"lbp:0ddba11a:lo-in"'`);
    const foreign = 'iif "lo" accept comment "lbp:0ddba11a:lo-in"';
    const r = ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    expect(r.stdout).toContain(`nftables: left alone, not ours: "${foreign}" in inet filter input`);
    expect(rulesOf(h, "inet filter input").filter((l) => l === foreign)).toHaveLength(1);
    ok(h.run("remove", manage));
    expect(rulesOf(h, "inet filter input")).toEqual([
      foreign, "ip saddr @admins tcp dport 22 accept", "tcp dport 22 accept", "ip saddr 198.51.100.7 drop",
    ]);
  });

  test("GIVEN a base chain added after apply (another table on the input hook) WHEN apply runs again THEN it gets the lo accept too", () => {
    const h = nftHost("nft-newchain");
    ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    h.sh("nft add table ip6 late && nft add chain ip6 late in '{ type filter hook input priority 20; policy drop; }'");
    expect(h.loopbackWorks("::1")).toBe(false);
    const r = ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    expect(r.stdout).toContain("nftables: ip6 late in: added lo-in");
    expect(h.loopbackWorks("::1")).toBe(true);
  });

  test("GIVEN only our table is left (the user's ruleset was flushed) THEN a plain iptables run does not take our table for another firewall", () => {
    const h = nftHost("nft-detect");
    ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    h.sh("nft delete table inet filter && nft delete table ip extra");
    const plain = h.run("apply", { rollbackSeconds: 0, persistence: "none" });
    expect(plain.stderr).not.toMatch(/native nftables ruleset is loaded/);
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain("ipv4: added INPUT/lo-in");
  });

  test("GIVEN our table changed by someone else (a rule of theirs in it) THEN a plain iptables run takes it for another firewall, and manage refuses naming the rule; nothing changes", () => {
    const h = nftHost("nft-tamper");
    ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    h.sh("nft delete table inet filter && nft delete table ip extra");
    h.sh("nft add rule inet loopback_policy input tcp dport 7 drop");
    const before = ruleset(h);
    const fail = h.run("apply", { rollbackSeconds: 0, persistence: "none" });
    expect(fail.status).toBe(1);
    expect(fail.stderr).toContain("a native nftables ruleset is loaded (table inet loopback_policy)");
    const m = h.run("apply", { ...manage, rollbackSeconds: 0 });
    expect(m.status).toBe(1);
    expect(m.stderr).toContain('table inet loopback_policy is not as loopback-policy writes it: it holds a rule loopback-policy does not write: "tcp dport 7 drop"');
    expect(ruleset(h)).toBe(before);
  });

  test("GIVEN a main file others can write, or iptables-nft's own chains beside the native ruleset THEN the run refuses naming it and changes nothing", () => {
    const h = nftHost("nft-refuse");
    ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    chmodSync(join("/etc/netns", h.ns, "nftables.conf"), 0o666);
    const c = h.run("confirm", manage);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/persistence: refusing to change \/etc\/nftables.conf: \/etc\/nftables.conf belongs to uid 0 with mode 666/);
    expect(confOf(h)).toBe(USER_CONF);
    expect(existsSync(recordFile(h))).toBe(false);
    // Apply refuses too, before changing anything.
    ok(h.run("remove", manage));
    const before0 = ruleset(h);
    const a = h.run("apply", manage);
    expect(a.status).toBe(1);
    expect(a.stderr).toMatch(/persistence: refusing to change \/etc\/nftables.conf: .* mode 666.*; nothing was changed/);
    expect(ruleset(h)).toBe(before0);

    const g = nftHost("nft-ipt");
    if (spawnSync("sh", ["-c", "iptables -V | grep -q nf_tables"]).status !== 0) return;
    g.sh("iptables -A INPUT -p tcp --dport 1 -j ACCEPT");
    const before = ruleset(g);
    const r = g.run("apply", { ...manage, rollbackSeconds: 0 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("iptables-nft's chain INPUT of table ip filter is loaded beside the native nftables ruleset");
    expect(ruleset(g)).toBe(before);
  });

  test("GIVEN our lo accept deleted from one chain, then the include line removed WHEN check runs THEN it exits 3 naming what converging would do, and changes nothing", () => {
    const h = nftHost("nft-drift");
    ok(h.run("apply", manage));
    ok(h.run("confirm", manage));
    const handle = h.sh("nft -a list chain ip extra in").match(/comment "lbp:0badc0de:lo-in" # handle (\d+)/)![1];
    h.sh(`nft delete rule ip extra in handle ${handle}`);
    const live = ruleset(h);
    const c = h.run("check", manage);
    expect(c.status).toBe(3);
    expect(c.stdout).toContain("nftables: drifted: converging would do: ip extra in: added lo-in");
    expect(ruleset(h)).toBe(live);
    ok(h.run("apply", { ...manage, rollbackSeconds: 0 }));
    writeFileSync(join("/etc/netns", h.ns, "nftables.conf"), USER_CONF);
    const p = h.run("check", manage);
    expect(p.status).toBe(3);
    expect(p.stdout).toContain(`nftables: drifted: converging would do: persist the live rules (/etc/nftables.conf does not include ${recordFile(h)}: a reboot would lose them)`);
  });

  test("GIVEN a manage policy on a host with iptables only (no native table) THEN apply and remove go through iptables as before; GIVEN only our table left THEN remove still takes it", () => {
    const h = host("nft-iptonly");
    const r = ok(h.run("apply", { ...manage, rollbackSeconds: 0, persistence: "none" }));
    expect(r.stdout).toContain("ipv4: added INPUT/lo-in, INPUT/spoof, OUTPUT/lo-out");
    expect(h.sh("iptables-save -t filter")).toContain('"lbp:0badc0de:lo-in"');
    const rm = ok(h.run("remove", { ...manage, persistence: "none" }));
    expect(rm.stdout).toContain("ipv4: removed 3 managed rules of generation 0badc0de");
    expect(h.sh("iptables-save -t filter")).not.toContain("lbp:");

    const g = nftHost("nft-onlyours");
    ok(g.run("apply", { ...manage, rollbackSeconds: 0 }));
    g.sh("nft delete table inet filter && nft delete table ip extra");
    const gone = ok(g.run("remove", manage));
    expect(gone.stdout).toContain("nftables: removed generation 0badc0de: deleted table inet loopback_policy");
    expect(g.sh("nft list ruleset")).toBe("");
  });

  test("GIVEN loopback dropped where no base chain of ours can help (netdev ingress on lo) WHEN apply runs THEN verification fails, the previous ruleset is restored and nothing is persisted", () => {
    const h = nftHost("nft-verify");
    h.sh("nft add table netdev blocklo && nft add chain netdev blocklo ing '{ type filter hook ingress device lo priority 0; policy drop; }'");
    const before = ruleset(h);
    const r = h.run("apply", manage);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/FAILED: verification failed: ipv4: a TCP connection over 127\.0\.0\.1 failed: .*The previous rules were restored; nothing was persisted/);
    expect(ruleset(h)).toBe(before);
    expect(confOf(h)).toBe(USER_CONF);
    expect(existsSync(join(h.env.LBP_STATE_DIR, "pending"))).toBe(false);
  });

  test("GIVEN the RHEL layout (/etc/sysconfig/nftables.conf) THEN confirm adds the include there, a reboot the RHEL way keeps it, remove restores the file", () => {
    const h = host("nft-rhel");
    // /etc as this host sees it: an overlay private to the one command's mount namespace (ip netns exec makes one
    // per command), so the machine's /etc never changes; everything happens in that one command.
    const up = join(h.dir, "etc-up");
    const work = join(h.dir, "etc-work");
    mkdirSync(up);
    mkdirSync(work);
    const conf = join(h.dir, "user.conf");
    writeFileSync(conf, USER_CONF);
    const script = (mode: "apply" | "confirm" | "remove") => {
      const f = join(h.dir, `rhel-${mode}.sh`);
      writeFileSync(f, hostScript(mode, { ...manage, rollbackSeconds: 0 }, "0badc0de"), { mode: 0o644 });
      return f;
    };
    const [apply, confirm, remove] = [script("apply"), script("confirm"), script("remove")];
    const r = h.try([
      "set -e",
      `mount -t overlay overlay -o lowerdir=/etc,upperdir=${up},workdir=${work} /etc`,
      "mkdir -p /etc/sysconfig && rm -f /etc/nftables.conf",
      `cp ${conf} /etc/sysconfig/nftables.conf && chmod 644 /etc/sysconfig/nftables.conf`,
      "nft -f /etc/sysconfig/nftables.conf",
      `sh ${apply}`, `sh ${confirm}`,
      "echo '--- conf'; tail -n 1 /etc/sysconfig/nftables.conf",
      "nft flush ruleset && nft -f /etc/sysconfig/nftables.conf && echo \"--- lbp rules after reboot: $(nft list ruleset | grep -c lbp:)\"",
      `sh ${remove}`,
      `cmp /etc/sysconfig/nftables.conf ${conf} && echo '--- conf restored'`,
    ].join("\n"), h.env);
    expect(r.stderr).not.toContain("FAILED");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`nftables: persisted (rhel): added one line at the end of /etc/sysconfig/nftables.conf: ${includeLine(h)}`);
    expect(r.stdout).toContain(`--- conf\n${includeLine(h)}\n`);
    expect(r.stdout).toContain("--- lbp rules after reboot: 7");
    expect(r.stdout).toContain("nftables: removed the line");
    expect(r.stdout).toContain("--- conf restored");
    expect(existsSync("/etc/sysconfig/nftables.conf")).toBe(false);
  });

  test("GIVEN a new generation (a policy change) THEN it takes over our table and rules, the old generation's remove leaves them and the persisted file alone, the new one's restores the host", () => {
    const h = nftHost("nft-gens");
    const before = ruleset(h);
    const A = { generation: "aaaaaaaa" };
    const B = { generation: "bbbbbbbb" };
    ok(h.run("apply", manage, A));
    ok(h.run("confirm", manage, A));
    const b = ok(h.run("apply", { ...manage, localOnlyPorts: ["tcp/8080"] }, B));
    expect(b.stdout).toContain("nftables: rewrote table inet loopback_policy; inet filter input: added lo-in, removed lbp:aaaaaaaa:lo-in");
    ok(h.run("confirm", { ...manage, localOnlyPorts: ["tcp/8080"] }, B));
    expect(rulesOf(h, "ip extra in")).toEqual(['iif "lo" accept comment "lbp:bbbbbbbb:lo-in"', "tcp dport 22 accept"]);
    const old = ok(h.run("remove", manage, A));
    expect(old.stdout).toContain("nftables: left table inet loopback_policy in place: it holds generation(s) bbbbbbbb");
    expect(old.stdout).toContain(`nftables: left ${recordFile(h)} in place: it is of another generation (bbbbbbbb)`);
    expect(ok(h.run("check", { ...manage, localOnlyPorts: ["tcp/8080"] }, B)).stdout).toContain("result: compliant");
    ok(h.run("remove", manage, B));
    expect(ruleset(h)).toBe(before);
    expect(confOf(h)).toBe(USER_CONF);
  });
});
