import { Review } from "./review";
import {
  baselineText, connectionText, constructTitle, familyTitle, groupCount, hostChangeLines, hostSetConnectionText, hostSetTitle,
  policyChangeTitle, rolloutText, ruleChangeLines, settingPairs,
} from "./describe";

const code = (s: string) => `\`${s}\``;

/** The review as Markdown, for a pull-request comment. */
export function formatMarkdown(r: Review): string {
  const out: string[] = ["## Loopback policy review", ""];
  for (const s of r.stacks) {
    for (const c of s.model.constructs) {
      out.push(`### Stack ${code(s.stack)}: ${constructTitle(c)}`, "");
      const rollout = rolloutText(c, code, "→");
      if (rollout !== null) out.push(`**Rollout**, wave after wave: ${rollout}`, "");
      for (const g of c.groups) {
        out.push(`#### Policy ${code(g.key)}: ${groupCount(g)}`, "");
        out.push("| host | connection | key | host key | generation |", "|---|---|---|---|---|");
        for (const name of g.hosts) {
          const h = c.hosts.find((x) => x.name === name)!;
          out.push(`| ${code(name)} | ${code(connectionText(h))} | ${h.keyFile === null ? "SSH agent" : code(h.keyFile)} | ${h.hostKeyPinned ? "pinned" : "**not pinned**"} | ${code(h.generation)} |`);
        }
        for (const name of g.hostSets ?? []) {
          const set = c.hostSets.find((x) => x.name === name)!;
          out.push(`| host set ${code(name)}: ${hostSetTitle(set).replace(/\|/g, "\\|")} | ${code(hostSetConnectionText(set))} | ${set.keyFile === null ? "SSH agent" : code(set.keyFile)} | ${set.hostKey === "not pinned" ? "**not pinned**" : set.hostKey} | known after apply |`);
        }
        out.push("", "```sh");
        for (const family of ["ipv4", "ipv6"] as const) out.push(`# ${familyTitle(g, family)}`, ...g.rules[family]);
        if (g.ufwRules) out.push("# when ufw is in charge (otherFirewall: manage), at the top of ufw's user rules", ...g.ufwRules);
        if (g.nftRules) out.push("# when nftables is in charge (otherFirewall: manage)", ...g.nftRules);
        if (g.firewalldRules) out.push("# when firewalld is in charge (otherFirewall: manage), runtime first, the same with --permanent at confirm", ...g.firewalldRules);
        out.push("```", "");
        out.push(settingPairs(g.settings).map(([k, v]) => `**${k}** ${code(v)}`).join(" · "), "");
      }
    }
    out.push(`#### Changes in stack ${code(s.stack)}`, "", `_${baselineText(r, s)}_`, "");
    if (s.changes?.unchanged) out.push("No changes.", "");
    for (const c of s.changes?.constructs ?? []) {
      if (c.construct === "unchanged") continue;
      out.push(`**LoopbackPolicy ${code(c.id)}**${c.construct === "changed" ? "" : ` (${c.construct})`}`, "");
      for (const line of hostChangeLines(c, code)) out.push(`- ${line.replace(" -> ", " → ")}`);
      for (const p of c.policies) {
        out.push(`- ${policyChangeTitle(p, code)}:`);
        const lines = (["ipv4", "ipv6"] as const).flatMap((f) => ruleChangeLines(p.rules[f]));
        if (lines.length) out.push("", "  ```diff", ...lines.map((l) => `  ${l.replace(/^~/, "!")}`), "  ```", "");
        for (const st of p.settings) out.push(`  - ${st.name}: ${code(String(st.from))} → ${code(String(st.to))}`);
      }
      out.push("");
    }
  }
  if (r.foreign.length) out.push(`Not reviewed (no LoopbackPolicy): ${r.foreign.map(code).join(", ")}`, "");
  return out.join("\n");
}
