import { HostCheck } from "./check";
import { HostStatus } from "./outcome";

const ORDER: readonly HostStatus[] = ["compliant", "skipped", "drifted", "unreachable", "failed"];

/** How a host is named in reports: its name, or `stack/id/name` when the checked hosts span several policies. */
export function hostLabel(r: HostCheck, qualified: boolean): string {
  return qualified ? `${r.stack}/${r.id}/${r.host}` : r.host;
}

/** Whether the results span several LoopbackPolicy constructs. */
export function spansConstructs(results: readonly HostCheck[]): boolean {
  return new Set(results.map((r) => `${r.stack}/${r.id}`)).size > 1;
}

/** `[12/250] web-12 compliant` */
export function progressLine(r: HostCheck, done: number, total: number, qualified: boolean): string {
  return `[${done}/${total}] ${hostLabel(r, qualified)} ${r.status}${r.message && r.status !== "drifted" ? `: ${r.message}` : ""}\n`;
}

/** `3 compliant, 1 drifted, 1 unreachable` (statuses that occur, in a fixed order). */
export function tally(results: readonly HostCheck[]): string {
  return ORDER.map((s) => [s, results.filter((r) => r.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ");
}

/** The check for a terminal: one line per host, drift and errors under it, a tally last. */
export function formatCheckText(results: readonly HostCheck[]): string {
  const qualified = spansConstructs(results);
  const width = Math.max(0, ...results.map((r) => hostLabel(r, qualified).length));
  const out: string[] = [];
  for (const r of results) {
    const label = hostLabel(r, qualified).padEnd(width);
    out.push(`${label}  ${r.status === "compliant" || r.status === "skipped" ? r.status : r.status.toUpperCase()}${r.message ? `: ${r.message}` : ""}`);
    for (const d of r.drift) out.push(`${" ".repeat(width)}    ${d.family}: converging would do: ${d.changes}`);
  }
  out.push("", `${results.length} host${results.length === 1 ? "" : "s"} checked: ${tally(results) || "none"}`, "");
  return out.join("\n");
}

/** The check as JSON for tools. */
export function formatCheckJson(results: readonly HostCheck[], exitCode: number): string {
  const counts = Object.fromEntries(ORDER.map((s) => [s, results.filter((r) => r.status === s).length]));
  return `${JSON.stringify({ exitCode, counts, hosts: results }, null, 2)}\n`;
}
