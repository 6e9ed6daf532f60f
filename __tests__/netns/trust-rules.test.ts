import { existsSync, readFileSync, rmSync } from "fs";
import { NetnsHost, chain, netnsHosts, tagged } from "../support/netns";
import { HostState, etcIptables, expectRefused, expectSaid, hostState, nftLoad, persistFiles, setup, sleep, writeLiveRules } from "../support/trust";

/**
 * Can the engine be trusted with a host it does not fully understand? Each test sets up a host the way a real
 * one can be, runs the engine for real in a namespace, and holds it to the contract:
 *  - when it cannot be sure, it refuses (exit 1, "FAILED", says what it saw) and changes nothing: the whole
 *    `nft list ruleset`, both saves and the persisted files are as before (also after a rollback window);
 *  - it only ever touches rules that are exactly its own, and leaves a host no worse than it found it.
 */
jest.setTimeout(120_000);

const host = netnsHosts();

/** A host whose loopback depends on rules: DROP policies, SSH allowed, both families. */
const SSH_ONLY = [
  "iptables -P INPUT DROP", "iptables -P OUTPUT DROP", "iptables -A INPUT -p tcp --dport 22 -j ACCEPT", "iptables -A OUTPUT -p tcp --sport 22 -j ACCEPT",
  "ip6tables -P INPUT DROP", "ip6tables -P OUTPUT DROP", "ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT", "ip6tables -A OUTPUT -p tcp --sport 22 -j ACCEPT",
].join(" && ");

/** The state now, and again after the rollback window of a (wrongly) armed guard has passed. */
async function expectUnchanged(h: NetnsHost, before: HostState, files: string[], waitMs = 0): Promise<void> {
  expect(hostState(h, files)).toEqual(before);
  if (waitMs > 0) {
    await sleep(waitMs);
    expect(hostState(h, files)).toEqual(before);
  }
}

// ------------------------------------------------------------------------------------------------------------
// 1. Native nftables tables named like iptables' ones
// ------------------------------------------------------------------------------------------------------------

/** Native nftables set-ups in tables iptables-nft also uses; `chain` is a native base chain that must survive. */
const NATIVE_TABLES: Array<{ name: string; load: (h: NetnsHost) => void; table: string; marker: RegExp }> = [
  {
    name: "table ip filter with a lower-case input chain (policy drop, iif lo, tcp dport 22)",
    load: (h) => nftLoad(h, "table ip filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n  tcp dport 22 accept\n }\n}\n"),
    table: "ip filter",
    marker: /chain input \{[\s\S]*policy drop;[\s\S]*iif "lo" accept[\s\S]*tcp dport 22 accept/,
  },
  {
    name: "table ip6 filter with a lower-case input chain",
    load: (h) => nftLoad(h, "table ip6 filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n  tcp dport 22 accept\n }\n}\n"),
    table: "ip6 filter",
    marker: /chain input \{[\s\S]*policy drop;[\s\S]*tcp dport 22 accept/,
  },
  {
    name: "table inet filter (the nftables.conf default)",
    load: (h) => nftLoad(h, "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n  tcp dport 22 accept\n }\n}\n"),
    table: "inet filter",
    marker: /chain input \{[\s\S]*policy drop;/,
  },
  {
    name: "table ip filter with a native base chain named INPUT whose rules look like iptables' (iif lo, tcp dport 22, no counters)",
    load: (h) => nftLoad(h, "table ip filter {\n chain INPUT {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n  tcp dport 22 accept\n }\n}\n"),
    table: "ip filter",
    marker: /chain INPUT \{[\s\S]*policy drop;[\s\S]*iif "lo" accept/,
  },
  {
    name: "table ip filter with a native base chain named INPUT using ct state (iptables-save: incompatible)",
    load: (h) => nftLoad(h, "table ip filter {\n chain INPUT {\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  tcp dport 22 accept\n }\n}\n"),
    table: "ip filter",
    marker: /chain INPUT \{[\s\S]*ct state established,related accept/,
  },
  {
    name: "table ip filter with a native base chain named INPUT using an anonymous set (iptables-save prints it lossily)",
    load: (h) => nftLoad(h, "table ip filter {\n chain INPUT {\n  type filter hook input priority 0; policy drop;\n  tcp dport { 22, 2222 } accept\n }\n}\n"),
    table: "ip filter",
    marker: /chain INPUT \{[\s\S]*tcp dport \{ 22, 2222 \} accept/,
  },
  {
    name: "table ip filter with iptables-nft's INPUT and an extra native base chain",
    load: (h) => {
      setup(h, "iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
      setup(h, "nft add chain ip filter extra '{ type filter hook input priority 10; policy accept; }' && nft add rule ip filter extra tcp dport 8080 drop");
    },
    table: "ip filter",
    marker: /chain extra \{[\s\S]*priority filter \+ 10; policy accept;[\s\S]*tcp dport 8080 drop/,
  },
  {
    name: "table ip filter with iptables-nft's INPUT jumping to a native regular chain",
    load: (h) => {
      setup(h, "iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
      setup(h, "nft add chain ip filter natv && nft add rule ip filter natv 'tcp dport { 80, 443 } drop' && nft add rule ip filter INPUT jump natv");
    },
    table: "ip filter",
    marker: /chain natv \{[\s\S]*tcp dport \{ 80, 443 \} drop/,
  },
  {
    name: "table ip6 filter with ip6tables-nft's INPUT and an extra native base chain",
    load: (h) => {
      setup(h, "ip6tables -P INPUT DROP && ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT");
      setup(h, "nft add chain ip6 filter extra '{ type filter hook input priority 10; policy accept; }' && nft add rule ip6 filter extra tcp dport 8080 drop");
    },
    table: "ip6 filter",
    marker: /chain extra \{[\s\S]*tcp dport 8080 drop/,
  },
];

describe("1. native nftables tables named like iptables' (filter) are another firewall", () => {
  test.each(NATIVE_TABLES)("GIVEN $name WHEN apply runs THEN it refuses naming native nftables, and changes nothing (also after the rollback window)", async ({ load }) => {
    const h = host("nat-apply");
    load(h);
    const p = persistFiles(h);
    writeLiveRules(h, p);
    const files = [p.v4Path, p.v6Path];
    const before = hostState(h, files);
    const r = h.run("apply", { rollbackSeconds: 2, persistence: p });
    expectRefused(r);
    await expectUnchanged(h, before, files, 3500);
    expectSaid(r, /native/i, /nftables|nft/i);
  });

  test.each(NATIVE_TABLES.filter((_, i) => [0, 3, 6].includes(i)))("GIVEN $name and otherFirewall skip WHEN apply runs THEN it exits 0 saying skipped, and changes nothing", async ({ load }) => {
    const h = host("nat-skip");
    load(h);
    const p = persistFiles(h);
    writeLiveRules(h, p);
    const files = [p.v4Path, p.v6Path];
    const before = hostState(h, files);
    const r = h.run("apply", { rollbackSeconds: 2, persistence: p, otherFirewall: "skip" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/skipped/i);
    await expectUnchanged(h, before, files, 3500);
  });

  test.each(["check", "confirm", "remove"] as const)("GIVEN a native table ip filter (lower-case input chain) WHEN %s runs THEN it refuses and changes nothing, persisted files included", async (mode) => {
    const h = host(`nat-${mode}`);
    NATIVE_TABLES[0].load(h);
    const p = persistFiles(h);
    writeLiveRules(h, p);
    const files = [p.v4Path, p.v6Path];
    const before = hostState(h, files);
    const r = h.run(mode, { persistence: p });
    expectRefused(r);
    await expectUnchanged(h, before, files);
    expectSaid(r, /native/i);
  });

  test.each(NATIVE_TABLES.filter((_, i) => [0, 3, 4, 6, 7, 8].includes(i)))("GIVEN $name WHEN an apply is never confirmed (rollbackSeconds 2) THEN after the window the native chain and its rules are still there, and the host is as it was", async ({ load, table, marker }) => {
    const h = host("nat-rollback");
    load(h);
    expect(h.sh(`nft list table ${table}`)).toMatch(marker);
    const before = hostState(h);
    h.run("apply", { rollbackSeconds: 2, persistence: "none" });
    await sleep(4000);
    expect(h.try(`nft list table ${table} 2>/dev/null`).stdout).toMatch(marker);
    expect(hostState(h)).toEqual(before);
  });

  test.each(NATIVE_TABLES.filter((_, i) => [0, 6].includes(i)))("GIVEN $name and loopback dropped in the raw table WHEN apply's verification fails THEN the native chain and its rules are still there", ({ load, table, marker }) => {
    const h = host("nat-verify");
    load(h);
    setup(h, "iptables -t raw -A OUTPUT -o lo -p tcp -j DROP");
    const r = h.run("apply", { rollbackSeconds: 0, persistence: "none", ipv6: "off" });
    expect(r.status).toBe(1);
    expect(h.try(`nft list table ${table} 2>/dev/null`).stdout).toMatch(marker);
  });

  test("GIVEN a native table ip filter (lower-case input chain) and otherFirewall ignore WHEN the apply is never confirmed THEN the rollback does not wipe the native chain", async () => {
    // Stricter than the refusal contract: whatever "ignore" does, undoing our own change must not delete someone else's chain.
    const h = host("nat-ignore");
    NATIVE_TABLES[0].load(h);
    h.run("apply", { rollbackSeconds: 2, persistence: "none", otherFirewall: "ignore", ipv6: "off" });
    await sleep(4000);
    expect(h.try("nft list table ip filter 2>/dev/null").stdout).toMatch(NATIVE_TABLES[0].marker);
  });
});

// ------------------------------------------------------------------------------------------------------------
// 2. Native nftables rules inside iptables-nft's own chains
// ------------------------------------------------------------------------------------------------------------

/** Native rules added with `nft` to the chains iptables-nft made (SSH_ONLY first). */
const NATIVE_RULES: Array<{ name: string; cmd: string }> = [
  { name: "a named set lookup in INPUT (ip saddr @blocklist drop)", cmd: "nft add set ip filter blocklist '{ type ipv4_addr; }' && nft add element ip filter blocklist '{ 10.9.9.9 }' && nft insert rule ip filter INPUT ip saddr @blocklist drop" },
  { name: "an anonymous set in INPUT (iptables-save prints -j DROP: a drop-all)", cmd: "nft insert rule ip filter INPUT ip saddr '{ 10.9.9.1, 10.9.9.2 }' counter drop" },
  { name: "an anonymous set in OUTPUT", cmd: "nft insert rule ip filter OUTPUT ip daddr '{ 10.9.9.1, 10.9.9.2 }' counter drop" },
  { name: "ct state in INPUT (iptables-save: table incompatible)", cmd: "nft insert rule ip filter INPUT ct state established,related accept" },
  { name: "a log statement in INPUT (iptables-save: table incompatible)", cmd: "nft add rule ip filter INPUT log prefix nftdrop" },
  { name: "meta mark set in INPUT (iptables-save fails, exit 3)", cmd: "nft insert rule ip filter INPUT meta mark set 1" },
  { name: "an anonymous set in ip6 filter INPUT", cmd: "nft insert rule ip6 filter INPUT ip6 saddr '{ 2001:db8::1, 2001:db8::2 }' counter drop" },
  { name: "ct state in ip6 filter OUTPUT", cmd: "nft insert rule ip6 filter OUTPUT ct state established accept" },
];

describe("2. native nftables rules inside iptables-nft chains", () => {
  test.each(NATIVE_RULES)("GIVEN $name WHEN apply runs THEN it refuses saying what it saw, and changes nothing (also after the rollback window)", async ({ cmd }) => {
    const h = host("nrule-apply");
    setup(h, SSH_ONLY);
    const p = persistFiles(h);
    writeLiveRules(h, p);
    setup(h, cmd);
    const files = [p.v4Path, p.v6Path];
    const before = hostState(h, files);
    const r = h.run("apply", { rollbackSeconds: 2, persistence: p });
    expectRefused(r);
    await expectUnchanged(h, before, files, 3500);
    expectSaid(r, /nft|native|incompatible/i);
  });

  test.each(NATIVE_RULES.filter((_, i) => [0, 3].includes(i)))("GIVEN $name WHEN apply runs twice THEN no managed rule is added to ip filter, let alone copies piling up", ({ cmd }) => {
    const h = host("nrule-twice");
    setup(h, SSH_ONLY);
    setup(h, cmd);
    h.run("apply", { rollbackSeconds: 0, persistence: "none", ipv6: "off" });
    h.run("apply", { rollbackSeconds: 0, persistence: "none", ipv6: "off" });
    // The managed rules as nft shows them (their comment match is not displayed): lo-in, spoof, lo-out.
    const nft = h.sh("nft -s list table ip filter 2>/dev/null");
    expect(nft.match(/^\s*iifname "lo"\s+counter accept$/gm) ?? []).toHaveLength(0);
    expect(nft.match(/^\s*iifname != "lo" ip saddr 127\.0\.0\.0\/8\s+counter drop$/gm) ?? []).toHaveLength(0);
    expect(nft.match(/^\s*oifname "lo"\s+counter accept$/gm) ?? []).toHaveLength(0);
  });

  test.each(NATIVE_RULES.filter((_, i) => [1, 3, 6].includes(i)))("GIVEN a confirmed host, then $name WHEN confirm runs again THEN it refuses and the persisted files stay byte-identical", async ({ cmd }) => {
    const h = host("nrule-confirm");
    setup(h, SSH_ONLY);
    const p = persistFiles(h);
    expect(h.run("apply", { persistence: p }).status).toBe(0);
    expect(h.run("confirm", { persistence: p }).status).toBe(0);
    setup(h, cmd);
    const files = [p.v4Path, p.v6Path];
    const before = hostState(h, files);
    const r = h.run("confirm", { persistence: p });
    expectRefused(r);
    await expectUnchanged(h, before, files);
    expectSaid(r, /nft|native|incompatible/i);
  });

  test.each(NATIVE_RULES.filter((_, i) => [1, 3, 5, 6].includes(i)))("GIVEN a converged host, then $name WHEN check runs THEN it refuses (exit 1, not compliant, not drifted) and changes nothing", async ({ cmd }) => {
    const h = host("nrule-check");
    setup(h, SSH_ONLY);
    expect(h.run("apply", { rollbackSeconds: 0, persistence: "none" }).status).toBe(0);
    setup(h, cmd);
    const before = hostState(h);
    const r = h.run("check", { persistence: "none" });
    expectRefused(r);
    expect(r.stdout).not.toMatch(/result: compliant/);
    await expectUnchanged(h, before, []);
    expectSaid(r, /nft|native|incompatible/i);
  });

  test.each(NATIVE_RULES.filter((_, i) => [0, 1, 3, 5, 7].includes(i)))("GIVEN a confirmed host, then $name WHEN remove runs THEN it refuses: managed rules stay, explicit persistence files byte-identical", async ({ cmd }) => {
    const h = host("nrule-remove");
    setup(h, SSH_ONLY);
    const p = persistFiles(h);
    expect(h.run("apply", { persistence: p }).status).toBe(0);
    expect(h.run("confirm", { persistence: p }).status).toBe(0);
    setup(h, cmd);
    const files = [p.v4Path, p.v6Path];
    const before = hostState(h, files);
    const r = h.run("remove", { persistence: p });
    expectRefused(r);
    await expectUnchanged(h, before, files);
    expectSaid(r, /nft|native|incompatible/i);
  });

  test.each(NATIVE_RULES.filter((_, i) => [1, 3].includes(i)))("GIVEN a real /etc/iptables/rules.v4 and $name WHEN remove runs (persistence auto) THEN it refuses and rules.v4 is byte-identical", async ({ cmd }) => {
    const h = host("nrule-etc");
    setup(h, SSH_ONLY);
    expect(h.run("apply", { rollbackSeconds: 0, persistence: "none" }).status).toBe(0);
    const etc = etcIptables(h, h.sh("iptables-save"), h.sh("ip6tables-save"));
    expect(readFileSync(etc.v4, "utf8")).toContain("--dport 22 -j ACCEPT");
    setup(h, cmd);
    const files = [etc.v4, etc.v6];
    const before = hostState(h, files);
    const r = h.run("remove");
    expectRefused(r);
    await expectUnchanged(h, before, files);
    expectSaid(r, /nft|native|incompatible/i);
  });

  test("GIVEN an anonymous-set rule in INPUT WHEN a deploy is never confirmed THEN the host ends as it was (the rollback does not lose or flatten the set rule)", async () => {
    const h = host("nrule-rollback");
    setup(h, SSH_ONLY);
    setup(h, NATIVE_RULES[1].cmd);
    const before = hostState(h);
    h.run("apply", { rollbackSeconds: 2, persistence: "none" });
    await sleep(4000);
    expect(hostState(h)).toEqual(before);
    expect(h.sh("nft list chain ip filter INPUT 2>/dev/null")).toMatch(/ip saddr \{ 10\.9\.9\.1, 10\.9\.9\.2 \} counter packets \d+ bytes \d+ drop/);
  });
});

// ------------------------------------------------------------------------------------------------------------
// 3. Rules that look like ours are not ours
// ------------------------------------------------------------------------------------------------------------

/** Foreign rules whose comments resemble the engine's tags (generation 0badc0de is the harness default). */
const LOOKALIKES: Array<{ name: string; rule: string }> = [
  { name: 'a comment "lbp: ssh from bastion"', rule: '-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "lbp: ssh from bastion" -j ACCEPT' },
  { name: 'a comment "note --comment lbp:zz"', rule: '-A INPUT -p tcp -m tcp --dport 23 -m comment --comment "note --comment lbp:zz" -j ACCEPT' },
  { name: "another generation's lo-in tag on a different rule (tcp 2222)", rule: '-A INPUT -p tcp -m tcp --dport 2222 -m comment --comment "lbp:deadbeef:lo-in" -j ACCEPT' },
  { name: "an unknown rule id of our generation (lbp:0badc0de:spoofy)", rule: '-A INPUT -p tcp -m tcp --dport 2223 -m comment --comment "lbp:0badc0de:spoofy" -j ACCEPT' },
  { name: 'our lo-in tag followed by more text ("lbp:0badc0de:lo-in extra")', rule: '-A INPUT -p tcp -m tcp --dport 2224 -m comment --comment "lbp:0badc0de:lo-in extra" -j ACCEPT' },
  { name: "our lo-in tag in upper case (LBP:0badc0de:lo-in)", rule: '-A INPUT -p tcp -m tcp --dport 2225 -m comment --comment "LBP:0badc0de:lo-in" -j ACCEPT' },
  { name: "another generation's lo-out tag on a different OUTPUT rule", rule: '-A OUTPUT -p tcp -m tcp --sport 2222 -m comment --comment "lbp:deadbeef:lo-out" -j ACCEPT' },
];

/** How iptables-save prints a rule we add with `iptables` (the rule text in the table is already in save form). */
const add = (rule: string) => `iptables ${rule.replace(/"([^"]*)"/g, "'$1'")}`;

/** The rules of INPUT and OUTPUT that are not this generation's exactly tagged managed ones, in order. */
const foreign = (save: string[]) =>
  [...chain(save, "INPUT"), ...chain(save, "OUTPUT")].filter((l) => !/--comment "lbp:0badc0de:(lo-in|spoof|lo-out)"/.test(l));

describe("3. foreign rules that look like managed ones are left alone", () => {
  test.each(LOOKALIKES)("GIVEN $name WHEN apply THEN it stays (exactly once) and the report says it was left alone; WHEN remove THEN it still stays", ({ rule }) => {
    const h = host("look");
    setup(h, `iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && ${add(rule)}`);
    const p = persistFiles(h);
    expect(h.save("ipv4").filter((l) => l === rule)).toHaveLength(1);
    const a = h.run("apply", { ipv6: "off", rollbackSeconds: 0, persistence: p });
    expect(a.status).toBe(0);
    expect(h.save("ipv4").filter((l) => l === rule)).toHaveLength(1);
    expect(a.stdout).toMatch(/left alone|lookalike|not ours/i);
    const rm = h.run("remove", { ipv6: "off", persistence: p });
    expect(rm.status).toBe(0);
    expect(h.save("ipv4").filter((l) => l === rule)).toHaveLength(1);
    expect(readFileSync(p.v4Path, "utf8").split("\n")).toContain(rule);
  });

  test("GIVEN all the lookalikes together WHEN apply, confirm, remove THEN each survives, in the same order relative to each other", () => {
    const h = host("look-all");
    setup(h, ["iptables -P INPUT DROP", "iptables -A INPUT -p tcp --dport 22 -j ACCEPT", ...LOOKALIKES.map((l) => add(l.rule))].join(" && "));
    const p = persistFiles(h);
    const before = foreign(h.save("ipv4"));
    expect(before).toHaveLength(LOOKALIKES.length + 1);
    const a = h.run("apply", { ipv6: "off", persistence: p });
    expect(a.status).toBe(0);
    expect(foreign(h.save("ipv4"))).toEqual(before);
    expect(tagged(h.save("ipv4")).filter((l) => /"lbp:0badc0de:(lo-in|spoof|lo-out)"/.test(l))).toHaveLength(3);
    expect(h.run("confirm", { ipv6: "off", persistence: p }).status).toBe(0);
    const rm = h.run("remove", { ipv6: "off", persistence: p });
    expect(rm.status).toBe(0);
    expect(foreign(h.save("ipv4"))).toEqual(before);
    expect(h.save("ipv4").filter((l) => /"lbp:0badc0de:(lo-in|spoof|lo-out)"/.test(l))).toHaveLength(0);
  });

  test("GIVEN a FORWARD rule carrying our exact lo-in tag WHEN apply THEN verification passes; WHEN remove THEN the FORWARD rule stays", () => {
    const h = host("look-fwd");
    setup(h, "iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A FORWARD -i lo -m comment --comment lbp:0badc0de:lo-in -j ACCEPT");
    const fwd = chain(h.save("ipv4"), "FORWARD");
    expect(fwd).toHaveLength(1);
    const a = h.run("apply", { ipv6: "off", rollbackSeconds: 0, persistence: "none" });
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/ipv4: verified/);
    const rm = h.run("remove", { ipv6: "off", persistence: "none" });
    expect(rm.status).toBe(0);
    expect(chain(h.save("ipv4"), "FORWARD")).toEqual(fwd);
    expect(chain(h.save("ipv4"), "INPUT")).toEqual(["-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]);
  });

  test.each([
    { name: "an INPUT user chain 'keep' with our exact lo-in tag, jumped to low in INPUT", cmd: "iptables -N keep && iptables -A keep -i lo -m comment --comment lbp:0badc0de:lo-in -j ACCEPT && iptables -A INPUT -j keep", chainName: "keep" },
    { name: "an OUTPUT user chain 'keepout' with our exact lo-out tag, jumped to low in OUTPUT", cmd: "iptables -N keepout && iptables -A keepout -o lo -m comment --comment lbp:0badc0de:lo-out -j ACCEPT && iptables -A OUTPUT -j keepout", chainName: "keepout" },
  ])("GIVEN $name WHEN apply THEN verification passes; WHEN remove THEN the user chain, its rule and the jump stay", ({ cmd, chainName }) => {
    const h = host("look-user");
    setup(h, `iptables -P INPUT DROP && iptables -P OUTPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A OUTPUT -p tcp --sport 22 -j ACCEPT && ${cmd}`);
    const theirs = h.save("ipv4").filter((l) => l.includes(chainName));
    expect(theirs).toHaveLength(3);
    const a = h.run("apply", { ipv6: "off", rollbackSeconds: 0, persistence: "none" });
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/ipv4: verified/);
    const rm = h.run("remove", { ipv6: "off", persistence: "none" });
    expect(rm.status).toBe(0);
    expect(h.save("ipv4").filter((l) => l.includes(chainName))).toEqual(theirs);
  });

  test("GIVEN a foreign user chain named keep-lbp:0badc0de:x WHEN apply then remove THEN remove succeeds, removes only the managed rules, and the chain, its rule and its jump stay", () => {
    const h = host("look-chain");
    setup(h, "iptables -N keep-lbp:0badc0de:x && iptables -A keep-lbp:0badc0de:x -s 10.1.2.3/32 -j DROP && iptables -A INPUT -j keep-lbp:0badc0de:x");
    const theirs = h.save("ipv4").filter((l) => l.includes("keep-lbp"));
    expect(theirs).toEqual([":keep-lbp:0badc0de:x - [0:0]", "-A INPUT -j keep-lbp:0badc0de:x", "-A keep-lbp:0badc0de:x -s 10.1.2.3/32 -j DROP"].map((l) => l.replace(/ \[0:0\]$/, "")));
    expect(h.run("apply", { ipv6: "off", rollbackSeconds: 0, persistence: "none" }).status).toBe(0);
    const rm = h.run("remove", { ipv6: "off", persistence: "none" });
    expect(rm.stderr).toBe("");
    expect(rm.status).toBe(0);
    expect(h.save("ipv4").filter((l) => l.includes("keep-lbp"))).toEqual(theirs);
    expect(h.save("ipv4").filter((l) => /"lbp:0badc0de:(lo-in|spoof|lo-out)"/.test(l))).toHaveLength(0);
  });
});

// ------------------------------------------------------------------------------------------------------------
// 4. A managed rule changed behind our back
// ------------------------------------------------------------------------------------------------------------

const TAMPERED: Array<{ name: string; id: string; fam: "ipv4" | "ipv6"; cmd: string }> = [
  { name: "spoof turned into an ACCEPT", id: "spoof", fam: "ipv4", cmd: 'iptables -R INPUT 2 -s 127.0.0.0/8 ! -i lo -m comment --comment "lbp:0badc0de:spoof" -j ACCEPT' },
  { name: "lo-in rewritten to -i eth9", id: "lo-in", fam: "ipv4", cmd: 'iptables -R INPUT 1 -i eth9 -m comment --comment "lbp:0badc0de:lo-in" -j ACCEPT' },
  { name: "lo-in narrowed with -p tcp", id: "lo-in", fam: "ipv4", cmd: 'iptables -R INPUT 1 -i lo -p tcp -m comment --comment "lbp:0badc0de:lo-in" -j ACCEPT' },
  { name: "lo-out's target changed to DROP", id: "lo-out", fam: "ipv4", cmd: 'iptables -R OUTPUT 1 -o lo -m comment --comment "lbp:0badc0de:lo-out" -j DROP' },
  { name: "lo-out's target changed to RETURN", id: "lo-out", fam: "ipv4", cmd: 'iptables -R OUTPUT 1 -o lo -m comment --comment "lbp:0badc0de:lo-out" -j RETURN' },
  { name: "ip6 lo-in rewritten to -i eth9", id: "lo-in", fam: "ipv6", cmd: 'ip6tables -R INPUT 1 -i eth9 -m comment --comment "lbp:0badc0de:lo-in" -j ACCEPT' },
  { name: "ip6 spoof (::1) turned into an ACCEPT", id: "spoof", fam: "ipv6", cmd: 'ip6tables -R INPUT 2 -s ::1/128 ! -i lo -m comment --comment "lbp:0badc0de:spoof" -j ACCEPT' },
];

describe("4. a tampered managed rule is drift, and apply repairs it", () => {
  test.each(TAMPERED)("GIVEN $name WHEN check THEN exit 3 drifted naming $id, nothing changed; WHEN apply THEN it is replaced by the right rule, one copy, loopback works", ({ id, fam, cmd }) => {
    const h = host("tamper");
    setup(h, SSH_ONLY);
    const policy = { rollbackSeconds: 0, persistence: "none" as const };
    expect(h.run("apply", policy).status).toBe(0);
    const good = h.save(fam);
    setup(h, cmd);
    const tampered = h.save(fam);
    expect(tampered).not.toEqual(good);
    expect(tampered.filter((l) => l.includes(`"lbp:0badc0de:${id}"`))).toHaveLength(1);

    const before = hostState(h);
    const c = h.run("check", policy);
    expect(c.status).toBe(3);
    expect(c.stdout).toMatch(/drifted/i);
    expect(c.stdout).toContain(id);
    expect(hostState(h)).toEqual(before);

    const a = h.run("apply", policy);
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(new RegExp(`(replaced|repaired)[^\\n]*${id}|${id}[^\\n]*(replaced|repaired)`, "i"));
    expect(h.save(fam)).toEqual(good);
    for (const t of ["lo-in", "spoof", "lo-out"]) expect(h.save(fam).filter((l) => l.includes(`"lbp:0badc0de:${t}"`))).toHaveLength(1);
    expect(h.loopbackWorks(fam === "ipv4" ? "127.0.0.1" : "::1")).toBe(true);
    expect(h.run("check", policy).status).toBe(0);
  });
});

// ------------------------------------------------------------------------------------------------------------
// 5. Destroy gives back what apply replaced
// ------------------------------------------------------------------------------------------------------------

/** A host fixed by hand: DROP policies, untagged lo rules at the top, SSH allowed; both families. */
const HAND_FIXED = ["iptables", "ip6tables"].map((t) => [
  `${t} -P INPUT DROP`, `${t} -P OUTPUT DROP`,
  `${t} -A INPUT -i lo -j ACCEPT`, `${t} -A INPUT -p tcp --dport 22 -j ACCEPT`,
  `${t} -A OUTPUT -o lo -j ACCEPT`, `${t} -A OUTPUT -p tcp --sport 22 -j ACCEPT`,
].join(" && ")).join(" && ");

describe("5. remove leaves the host as it found it", () => {
  test.each([
    { name: "", reboot: false },
    { name: " and a reboot (state directory gone) between confirm and remove", reboot: true },
  ])("GIVEN a host fixed by hand (untagged lo rules)$name WHEN apply, confirm, remove THEN the untagged rules are back at the top, loopback works, and the persisted files hold them", ({ reboot }) => {
    const h = host("restore");
    setup(h, HAND_FIXED);
    const before = { ipv4: h.save("ipv4"), ipv6: h.save("ipv6") };
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);
    const p = persistFiles(h);
    const policy = { persistence: p };
    const a = h.run("apply", policy);
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/replaced untagged "-A INPUT -i lo -j ACCEPT"/);
    expect(h.save("ipv4")).not.toContain("-A INPUT -i lo -j ACCEPT");
    expect(h.run("confirm", policy).status).toBe(0);
    if (reboot) {
      rmSync(h.env.LBP_STATE_DIR, { recursive: true, force: true });
      expect(existsSync(h.env.LBP_STATE_DIR)).toBe(false);
    }
    const rm = h.run("remove", policy);
    expect(rm.status).toBe(0);
    for (const fam of ["ipv4", "ipv6"] as const) {
      expect(chain(h.save(fam), "INPUT")).toEqual(chain(before[fam], "INPUT"));
      expect(chain(h.save(fam), "OUTPUT")).toEqual(chain(before[fam], "OUTPUT"));
      expect(h.save(fam)).toEqual(before[fam]);
    }
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);
    for (const [file, fam] of [[p.v4Path, "ipv4"], [p.v6Path, "ipv6"]] as const) {
      const saved = readFileSync(file, "utf8").split("\n").map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
      expect(saved.filter((l) => l.startsWith("-A INPUT "))).toEqual(chain(before[fam], "INPUT"));
      expect(saved.filter((l) => l.startsWith("-A OUTPUT "))).toEqual(chain(before[fam], "OUTPUT"));
      expect(saved.join("\n")).not.toContain("lbp:");
    }
  });

  test("GIVEN only an untagged INPUT lo rule (OUTPUT open) and a reboot before remove WHEN apply, confirm, remove THEN exactly that rule comes back, and nothing that was not there", () => {
    const h = host("restore-in");
    setup(h, "iptables -P INPUT DROP && iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
    const before = h.save("ipv4");
    const p = persistFiles(h);
    const policy = { ipv6: "off" as const, persistence: p };
    expect(h.run("apply", policy).status).toBe(0);
    expect(h.run("confirm", policy).status).toBe(0);
    rmSync(h.env.LBP_STATE_DIR, { recursive: true, force: true });
    expect(h.run("remove", policy).status).toBe(0);
    expect(h.save("ipv4")).toEqual(before);
    expect(chain(h.save("ipv4"), "OUTPUT")).toEqual([]);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(readFileSync(p.v4Path, "utf8")).toMatch(/^-A INPUT -i lo -j ACCEPT$/m);
  });

  test("GIVEN a host fixed by hand with persistence auto (/etc/iptables) and a reboot before remove WHEN apply, confirm, remove THEN rules.v4 holds the untagged lo rules again", () => {
    const h = host("restore-etc");
    setup(h, HAND_FIXED);
    const before = { ipv4: h.save("ipv4"), ipv6: h.save("ipv6") };
    const etc = etcIptables(h, h.sh("iptables-save"), h.sh("ip6tables-save"));
    expect(h.run("apply").status).toBe(0);
    expect(h.run("confirm").status).toBe(0);
    expect(readFileSync(etc.v4, "utf8")).toContain("lbp:0badc0de:lo-in");
    rmSync(h.env.LBP_STATE_DIR, { recursive: true, force: true });
    expect(h.run("remove").status).toBe(0);
    expect(h.save("ipv4")).toEqual(before.ipv4);
    expect(h.save("ipv6")).toEqual(before.ipv6);
    const v4 = readFileSync(etc.v4, "utf8");
    expect(v4).toMatch(/^-A INPUT -i lo -j ACCEPT$/m);
    expect(v4).toMatch(/^-A OUTPUT -o lo -j ACCEPT$/m);
    expect(v4).not.toContain("lbp:");
  });
});
