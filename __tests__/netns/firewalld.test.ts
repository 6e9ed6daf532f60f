import { FirewalldHost, requireFirewalld } from "../support/firewalld";
import { NetnsHost, requireNetnsTools } from "../support/netns";
import { outsideOf, reachable, spoofReceived } from "../support/netns-traffic";
import { PolicyOptions, planFirewalld, validateFleet } from "../../lib/core";

/**
 * otherFirewall: "manage" with firewalld in charge: the real firewalld (Debian 12's 1.3, nftables backend), one per
 * network namespace, each with its own system bus and its own /etc/firewalld (see FirewalldHost). firewalld's default
 * zone is public (ssh and dhcpv6-client open, everything else rejected).
 */
let hosts: NetnsHost[] = [];
beforeAll(() => {
  requireNetnsTools();
  requireFirewalld();
});
afterEach(() => {
  for (const h of hosts) h.destroy();
  hosts = [];
});
const fwHost = (label: string) => {
  const h = new FirewalldHost(label);
  hosts.push(h);
  return h;
};
const plainHost = (label: string) => {
  const h = new NetnsHost(label);
  hosts.push(h);
  return h;
};

const MANAGE: PolicyOptions = { otherFirewall: "manage", localOnlyPorts: ["tcp/8080"], rollbackSeconds: 30 };
const SPOOF4 = 'rule priority="-32141" family="ipv4" source address="127.0.0.0/8" drop';
const SPOOF6 = 'rule priority="-32141" family="ipv6" source address="::1" drop';
const LOCAL4 = 'rule priority="-32141" family="ipv4" port port="8080" protocol="tcp" drop';
const LOCAL6 = 'rule priority="-32141" family="ipv6" port port="8080" protocol="tcp" drop';
/** An admin's own drop of the same match (no priority): another rule, never ours. */
const ADMIN4 = 'rule family="ipv4" source address="127.0.0.0/8" drop';
const OURS = [LOCAL4, LOCAL6, SPOOF4, SPOOF6].sort();

/** apply, then confirm over a "new connection", as the two provisioner blocks do. */
function deploy(h: NetnsHost, policy: PolicyOptions = MANAGE, generation?: string) {
  const a = h.run("apply", policy, { generation });
  const c = h.run("confirm", policy, { generation });
  return { a, c };
}
const ok = (r: { status: number; stdout: string; stderr: string }) => {
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
};
/** What firewalld holds now: every zone's interfaces and rich rules, runtime and permanent. */
const stateOf = (h: FirewalldHost) => ({ runtime: h.fw("--list-all-zones"), permanent: h.fw("--permanent --list-all-zones") });
const zones = (h: FirewalldHost) => h.fw("--get-zones").trim().split(/\s+/);

describe("the plan is what firewalld itself lists", () => {
  test("GIVEN each planned rich rule added by hand THEN firewalld lists it exactly as planned (ownership compares this text)", () => {
    const h = fwHost("fidelity");
    const policy = validateFleet({ hosts: [{ name: "x", address: "192.0.2.1" }], otherFirewall: "manage", localOnlyPorts: ["tcp/8080", "tcp/9000-9100", "udp/5353"], logDrops: true, localOnlyAction: "reject", antiSpoofing: "reject" }).hosts[0].policy;
    const rules = planFirewalld(policy).richRules.map((r) => r.rule);
    expect(rules.length).toBe(8);
    h.fw(`--zone=work ${rules.map((r) => `--add-rich-rule='${r}'`).join(" ")}`);
    expect(h.richRules("work")).toEqual([...rules].sort());
  });
});

describe("GIVEN firewalld running with its default zones", () => {
  test("THEN apply + confirm bind lo to trusted and put the rich rules in every zone, runtime then permanent; the CIS audit passes; a re-run changes nothing", () => {
    const h = fwHost("apply");
    const a = h.run("apply", MANAGE);
    ok(a);
    expect(a.stdout).toContain("host: firewalld is running (firewall-cmd --state); managing loopback through firewalld (otherFirewall: manage)");
    expect(a.stdout).toMatch(/host: firewalld 1\.\d+\.\d+ \(backend nftables\)/);
    expect(a.stdout).toContain(`firewalld: runtime: added interface lo to trusted; added ${4 * zones(h).length} rich rules in ${zones(h).length} zones`);
    expect(a.stdout).toContain("ipv4: verified: tcp 127.0.0.1 ok");
    expect(a.stdout).toContain("ipv6: verified: tcp ::1 ok");
    expect(a.stdout).toContain("rollback armed");
    // Live, not yet persisted: the permanent configuration is untouched until confirm.
    for (const z of zones(h)) expect(h.richRules(z)).toEqual(OURS);
    expect(h.fw("--zone=trusted --list-interfaces").trim()).toBe("lo");
    expect(h.fw("--permanent --zone=trusted --list-interfaces").trim()).toBe("");
    expect(h.richRules("public", true)).toEqual([]);
    const c = h.run("confirm", MANAGE);
    ok(c);
    expect(c.stdout).toContain("confirmed over a new SSH connection; rollback disarmed");
    expect(c.stdout).toContain(`persisted (firewalld --permanent): added interface lo to trusted; added ${4 * zones(h).length} rich rules in ${zones(h).length} zones`);
    for (const z of zones(h)) expect(h.richRules(z, true)).toEqual(OURS);
    // The CIS audit: lo in the trusted zone, the loopback source drops, in firewalld's permanent configuration.
    expect(h.fw("--permanent --zone=trusted --list-interfaces").trim()).toBe("lo");
    expect(h.richRules("trusted", true)).toEqual(expect.arrayContaining([SPOOF4, SPOOF6]));
    // And in the kernel: firewalld's own table drops 127.0.0.0/8 first in the default zone's input (priority < 0).
    expect(h.sh("nft list chain inet firewalld filter_IN_public_pre")).toMatch(/ip saddr 127\.0\.0\.0\/8 drop/);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);
    // A re-run changes nothing; check agrees. A reload (what a reboot does) keeps everything.
    const before = stateOf(h);
    const again = deploy(h);
    ok(again.a);
    expect(again.a.stdout).toContain(`firewalld: unchanged (lo in trusted, 4 rich rules in each of ${zones(h).length} zones, in firewalld's runtime)`);
    expect(again.a.stdout).toContain("result: unchanged");
    expect(again.c.stdout).toContain("persisted (firewalld): its permanent configuration already holds the managed items");
    expect(stateOf(h)).toEqual(before);
    const chk = h.run("check", MANAGE);
    expect(chk.stdout).toContain(`firewalld: compliant (lo in trusted, 4 rich rules in each of ${zones(h).length} zones, runtime and permanent)`);
    expect(chk.status).toBe(0);
    h.fw("--reload");
    expect(stateOf(h)).toEqual(before);
    expect(h.run("check", MANAGE).status).toBe(0);
  });

  test("THEN spoofed 127.0.0.1 packets from another interface are dropped, and a local-only port refuses outside connections even when its zone opens it", () => {
    const h = fwHost("traffic");
    const { c, addr } = outsideOf(h, plainHost("out"));
    // The admin opens 9999/udp and 8080/tcp in the default zone: before, both reach the host.
    h.fw("--zone=public --add-port=9999/udp --add-port=8080/tcp");
    expect(spoofReceived(h, c, addr)).toBe("spoofed-loopback");
    expect(reachable(h, c, addr, 8080)).toBe(true);
    // CIS's remediation as written (the drops in the trusted zone only) does not stop it: eth0 is in public.
    const cis = `'rule family="ipv4" source address="127.0.0.1" destination not address="127.0.0.1" drop'`;
    h.fw(`--zone=trusted --add-rich-rule=${cis}`);
    h.fw("--zone=trusted --add-interface=lo");
    expect(spoofReceived(h, c, addr)).toBe("spoofed-loopback");
    h.fw(`--zone=trusted --remove-rich-rule=${cis}`);
    h.fw("--zone=trusted --remove-interface=lo");
    const { a, c: conf } = deploy(h);
    ok(a);
    ok(conf);
    expect(spoofReceived(h, c, addr)).toBe("");
    expect(reachable(h, c, addr, 8080)).toBe(false);
    expect(reachable(h, c, addr, 22)).toBe(true);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    // The admin's runtime-only ports survive: loopback-policy never reloads firewalld.
    expect(h.fw("--zone=public --list-ports").trim().split(" ").sort()).toEqual(["8080/tcp", "9999/udp"]);
  });

  test("THEN a session cut before confirm rolls the runtime back on its own; the permanent configuration was never touched", () => {
    const h = fwHost("rollback");
    const before = stateOf(h);
    const files = h.permanentFiles();
    const a = h.run("apply", { ...MANAGE, rollbackSeconds: 2 });
    ok(a);
    expect(h.richRules("public")).toEqual(OURS);
    // No confirm: the timer undoes exactly this run's runtime change (a dozen firewall-cmd calls: allow 30 s).
    h.sh(`for i in $(seq 60); do [ -f ${h.env.LBP_STATE_DIR}/rolledback.0badc0de ] && break; sleep 0.5; done`);
    expect(h.sh(`cat ${h.env.LBP_STATE_DIR}/rollback.log`)).toContain("rolled back at");
    expect(stateOf(h)).toEqual(before);
    expect(h.permanentFiles()).toEqual(files);
    const late = h.run("confirm", { ...MANAGE, rollbackSeconds: 2 });
    expect(late.status).not.toBe(0);
    expect(late.stderr).toContain("the change was rolled back on the host");
    expect(stateOf(h)).toEqual(before);
  });

  test("THEN the rollback completes when firewalld changed meanwhile (a zone deleted, an item already gone), and undoes a second unconfirmed run of the same generation too", () => {
    const h = fwHost("rollback2");
    h.fw("--permanent --new-zone=lab >/dev/null");
    h.fw("--reload");
    const policy = { ...MANAGE, rollbackSeconds: 8 };
    ok(h.run("apply", policy));
    // A new zone needs a reload, which drops the runtime change; the same generation is applied again while the
    // first run still awaits confirmation: the guard must undo both.
    h.fw("--permanent --new-zone=lab2 >/dev/null");
    h.fw("--reload");
    const a2 = h.run("apply", policy);
    ok(a2);
    expect(a2.stdout).toContain(`firewalld: runtime: added interface lo to trusted; added ${4 * zones(h).length} rich rules in ${zones(h).length} zones`);
    expect(h.richRules("lab2")).toEqual(OURS);
    // Then a zone the change touched disappears (its rules with it).
    h.fw("--permanent --delete-zone=lab >/dev/null");
    h.fw("--reload");
    ok(h.run("apply", policy));
    h.sh(`for i in $(seq 80); do [ -f ${h.env.LBP_STATE_DIR}/rolledback.0badc0de ] && break; sleep 0.5; done`);
    expect(h.sh(`cat ${h.env.LBP_STATE_DIR}/rollback.log`)).not.toContain("failed");
    expect(h.sh(`ls ${h.env.LBP_STATE_DIR}`)).not.toContain("pending");
    for (const z of zones(h)) expect([z, h.richRules(z)]).toEqual([z, []]);
    // Nothing of ours is left recorded for the runtime.
    expect(h.sh(`cat ${h.env.LBP_RECORD_DIR}/firewalld.ours 2>/dev/null || :`)).toBe("");
    // The permanent configuration was never touched (only the admin's zone deletions changed it).
    for (const z of zones(h)) expect([z, h.richRules(z, true)]).toEqual([z, []]);
    expect(h.fw("--permanent --zone=trusted --list-interfaces").trim()).toBe("");
  });

  test("WHEN IPv6 is disabled on the host after a deploy THEN a re-run keeps the IPv6 rich rules (skipping a family is not removing it)", () => {
    const h = fwHost("ipv6gone");
    ok(deploy(h).c);
    h.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
    const { a, c } = deploy(h);
    ok(a);
    ok(c);
    expect(a.stdout).toContain("ipv6: skipped: IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1) (firewalld's IPv6 rich rules of loopback-policy, if any, are kept)");
    expect(h.richRules("public")).toEqual(OURS);
    expect(h.richRules("public", true)).toEqual(OURS);
  });

  test("WHEN an admin adds a drop of the same match after the deploy THEN destroy keeps it (ours carry their own priority)", () => {
    const h = fwHost("adminafter");
    ok(deploy(h).c);
    for (const p of ["", "--permanent "]) h.fw(`${p}--zone=public --add-rich-rule='${ADMIN4}'`);
    ok(h.run("remove", MANAGE));
    expect(h.richRules("public")).toEqual([ADMIN4]);
    expect(h.richRules("public", true)).toEqual([ADMIN4]);
  });

  test("THEN destroy removes exactly what loopback-policy added and keeps what was there before (lo in trusted, an admin's drop of the same match), leaving every file that was there byte for byte", () => {
    const h = fwHost("remove");
    // The admin did part of CIS by hand: lo in trusted and an IPv4 drop in public, both permanent and runtime.
    for (const p of ["", "--permanent "]) h.fw(`${p}--zone=trusted --add-interface=lo`);
    for (const p of ["", "--permanent "]) h.fw(`${p}--zone=public --add-rich-rule='${ADMIN4}'`);
    const before = stateOf(h);
    const files = h.permanentFiles();
    const { a, c } = deploy(h);
    ok(a);
    ok(c);
    expect(a.stdout).toContain("firewalld: 1 of the policy's items were already in firewalld's runtime configuration before loopback-policy (for example in zone trusted: interface lo): not ours, kept on remove");
    expect(h.richRules("public")).toEqual([...OURS, ADMIN4].sort());
    const r = h.run("remove", MANAGE);
    ok(r);
    expect(r.stdout).toContain(`firewalld: runtime: removed ${4 * zones(h).length} rich rules from ${zones(h).length} zones (what generation 0badc0de had added)`);
    expect(r.stdout).toContain(`firewalld: permanent: removed ${4 * zones(h).length} rich rules from ${zones(h).length} zones (what generation 0badc0de had added)`);
    expect(stateOf(h)).toEqual(before);
    // Every file that was there is byte for byte what it was. firewalld itself keeps a zone it has changed as a file
    // of its own under /etc/firewalld/zones (with a .old backup), holding what the zone holds: the defaults again.
    const after = h.permanentFiles();
    for (const [f, text] of Object.entries(files)) expect([f, after[f]]).toEqual([f, text]);
    for (const f of Object.keys(after).filter((x) => !(x in files))) expect(f).toMatch(/^\/etc\/firewalld\/zones\/[a-z]+\.xml(\.old)?$/);
    expect(h.richRules("public", true)).toEqual([ADMIN4]);
    expect(h.fw("--permanent --zone=trusted --list-interfaces").trim()).toBe("lo");
    // A second destroy finds nothing of ours.
    const again = h.run("remove", MANAGE);
    ok(again);
    expect(again.stdout).toContain("firewalld: runtime: nothing of generation 0badc0de to remove");
  });

  test("THEN a new generation takes over the old one's items, drops what it no longer wants, and the old generation's destroy removes nothing the new one needs", () => {
    const h = fwHost("generations");
    ok(deploy(h, MANAGE, "11111111").c);
    const next: PolicyOptions = { ...MANAGE, localOnlyPorts: ["tcp/9090"] };
    const { a, c } = deploy(h, next, "22222222");
    ok(a);
    ok(c);
    expect(a.stdout).toContain(`firewalld: runtime: added ${2 * zones(h).length} rich rules in ${zones(h).length} zones; removed ${2 * zones(h).length} rich rules from ${zones(h).length} zones`);
    const want = [SPOOF4, SPOOF6, LOCAL4.replace("8080", "9090"), LOCAL6.replace("8080", "9090")].sort();
    expect(h.richRules("public")).toEqual(want);
    expect(h.richRules("public", true)).toEqual(want);
    // create_before_destroy: the old instance's destroy runs after the new apply.
    const old = h.run("remove", MANAGE, { generation: "11111111" });
    ok(old);
    expect(old.stdout).toContain("firewalld: runtime: nothing of generation 11111111 to remove");
    expect(h.richRules("public")).toEqual(want);
    expect(h.fw("--zone=trusted --list-interfaces").trim()).toBe("lo");
    expect(h.run("check", next, { generation: "22222222" }).status).toBe(0);
  });

  test("THEN check reports drift in firewalld's terms: a rule removed at runtime, and a change not persisted", () => {
    const h = fwHost("check");
    ok(deploy(h).c);
    h.fw(`--zone=dmz --remove-rich-rule='${SPOOF6}'`);
    const drift = h.run("check", MANAGE);
    expect(drift.status).toBe(3);
    expect(drift.stdout).toContain("firewalld: drifted: converging would do: runtime: added 1 rich rules in 1 zones");
    ok(h.run("apply", MANAGE));
    expect(h.run("check", MANAGE).status).toBe(0);
    // The runtime in place but the permanent configuration without it (a reload would lose it).
    h.fw(`--permanent --zone=home --remove-rich-rule='${SPOOF4}'`);
    const unsaved = h.run("check", MANAGE);
    expect(unsaved.status).toBe(3);
    expect(unsaved.stdout).toContain("firewalld: drifted: the runtime is in place but not persisted: the permanent configuration would need added 1 rich rules in 1 zones");
  });
});

describe("GIVEN firewalld in a state the engine cannot be sure of", () => {
  test("WHEN lo is bound to another zone THEN apply refuses naming the zone and the fix, and changes nothing", () => {
    const h = fwHost("lozone");
    h.fw("--zone=internal --add-interface=lo");
    const before = stateOf(h);
    const r = h.run("apply", MANAGE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("lo is bound to firewalld's zone internal (runtime configuration), not trusted: moving it would change what that zone lets in; nothing was changed. Fix: firewall-cmd --zone=internal --remove-interface=lo");
    expect(stateOf(h)).toEqual(before);
  });

  test("WHEN lo is bound to another zone only in the permanent configuration THEN apply refuses before changing anything (confirm would have refused after the change)", () => {
    const h = fwHost("lopermanent");
    h.fw("--permanent --zone=internal --add-interface=lo");
    const before = stateOf(h);
    const r = h.run("apply", MANAGE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("lo is bound to firewalld's zone internal (permanent configuration), not trusted: moving it would change what that zone lets in; nothing was changed. Fix: firewall-cmd --permanent --zone=internal --remove-interface=lo");
    expect(stateOf(h)).toEqual(before);
    expect(h.sh(`ls ${h.env.LBP_STATE_DIR}`)).not.toContain("pending");
  });

  test("WHEN a policy file is writable by another user THEN apply refuses and changes nothing (everything under /etc/firewalld is checked)", () => {
    const h = fwHost("unsafepolicy");
    h.sh("mkdir -p /etc/firewalld/policies && printf '<?xml version=\"1.0\" encoding=\"utf-8\"?>\\n<policy target=\"CONTINUE\"><ingress-zone name=\"ANY\"/><egress-zone name=\"HOST\"/></policy>\\n' > /etc/firewalld/policies/x.xml && chmod 666 /etc/firewalld/policies/x.xml");
    const r = h.run("apply", MANAGE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("firewalld's configuration is not root's alone: /etc/firewalld/policies/x.xml is a link or writable by another user; nothing was changed");
    expect(h.richRules("public")).toEqual([]);
  });

  test("WHEN firewalld was stopped after it was managed THEN apply refuses instead of falling back to iptables", () => {
    const h = fwHost("stopped");
    ok(deploy(h).c);
    h.stopFirewalld();
    const before = h.sh("iptables-save; nft list ruleset");
    const r = h.run("apply", MANAGE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("firewalld is not running, but it holds what generation 0badc0de added to it");
    expect(r.stderr).toContain("nothing was changed. Fix: start firewalld");
    expect(h.sh("iptables-save; nft list ruleset")).toBe(before);
  });

  test("WHEN a zone file is writable by another user THEN apply refuses and changes nothing", () => {
    const h = fwHost("unsafe");
    h.fw("--permanent --new-zone=lab >/dev/null");
    h.sh("chmod 666 /etc/firewalld/zones/lab.xml");
    const r = h.run("apply", MANAGE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("firewalld's configuration is not root's alone: /etc/firewalld/zones/lab.xml is a link or writable by another user; nothing was changed. Fix: chown root:root /etc/firewalld/zones/lab.xml && chmod go-w /etc/firewalld/zones/lab.xml");
    expect(h.richRules("public")).toEqual([]);
  });

  test("WHEN the default otherFirewall meets firewalld THEN it changes nothing and names manage as the fix", () => {
    const h = fwHost("default");
    const r = h.run("apply", {});
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('firewalld is running (firewall-cmd --state) and manages this firewall; loopback-policy changes nothing here. Fix: set otherFirewall: "manage" to converge loopback through firewalld');
    expect(h.richRules("public")).toEqual([]);
    expect(h.fw("--zone=trusted --list-interfaces").trim()).toBe("");
  });
});
