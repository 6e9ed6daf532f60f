import { Review } from "./review";
import {
  baselineText, connectionText, constructTitle, familyTitle, groupCount, hostChangeLines, hostKeyText, hostSetConnectionText,
  hostSetTitle, keyText, policyChangeTitle, rolloutText, ruleChangeLines, settingsText,
} from "./describe";

/** The review for a terminal. */
export function formatText(r: Review): string {
  const out: string[] = [];
  for (const s of r.stacks) {
    for (const c of s.model.constructs) {
      out.push(`== stack "${s.stack}": ${constructTitle(c)}`, "");
      const rollout = rolloutText(c);
      if (rollout !== null) out.push(`rollout, wave after wave: ${rollout}`, "");
      for (const g of c.groups) {
        out.push(`policy ${g.key}: ${groupCount(g)}`);
        const width = Math.max(...g.hosts.map((n) => n.length));
        for (const name of g.hosts) {
          const h = c.hosts.find((x) => x.name === name)!;
          out.push(`    ${name.padEnd(width)}  ${connectionText(h)}  ${keyText(h)}  ${hostKeyText(h)}  generation ${h.generation}`);
        }
        for (const name of g.hostSets ?? []) {
          const set = c.hostSets.find((x) => x.name === name)!;
          out.push(`    host set ${name}: ${hostSetTitle(set)}`);
          out.push(`      ${hostSetConnectionText(set)}  ${set.keyFile === null ? "SSH agent" : `key ${set.keyFile}`}  host key ${set.hostKey}  generation (known after apply)`);
        }
        for (const family of ["ipv4", "ipv6"] as const) {
          out.push(`  ${familyTitle(g, family)}`);
          for (const rule of g.rules[family]) out.push(`    ${rule}`);
        }
        if (g.ufwRules) {
          out.push("  when ufw is in charge (otherFirewall: manage), at the top of ufw's user rules:");
          for (const rule of g.ufwRules) out.push(`    ${rule}`);
        }
        if (g.nftRules) {
          out.push("  when nftables is in charge (otherFirewall: manage):");
          for (const rule of g.nftRules) out.push(`    ${rule}`);
        }
        if (g.firewalldRules) {
          out.push("  when firewalld is in charge (otherFirewall: manage), runtime first, the same with --permanent at confirm:");
          for (const rule of g.firewalldRules) out.push(`    ${rule}`);
        }
        out.push(`  ${settingsText(g.settings)}`, "");
      }
    }
    out.push(`changes in stack "${s.stack}": ${baselineText(r, s)}`);
    if (s.changes?.unchanged) out.push("  no changes");
    for (const c of s.changes?.constructs ?? []) {
      if (c.construct === "unchanged") continue;
      out.push(`  LoopbackPolicy "${c.id}"${c.construct === "changed" ? "" : ` (${c.construct})`}:`);
      for (const line of hostChangeLines(c)) out.push(`    ${line}`);
      for (const p of c.policies) {
        out.push(`    ${policyChangeTitle(p)}:`);
        for (const family of ["ipv4", "ipv6"] as const) {
          const lines = ruleChangeLines(p.rules[family]);
          if (lines.length) out.push(`      ${family}:`, ...lines.map((l) => `        ${l}`));
        }
        for (const st of p.settings) out.push(`      ${st.name}: ${st.from} -> ${st.to}`);
      }
    }
    out.push("");
  }
  if (r.foreign.length) out.push(`not reviewed (no LoopbackPolicy): ${r.foreign.join(", ")}`, "");
  return out.join("\n");
}
