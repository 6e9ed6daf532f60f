import { BenchResults, SIDES, median, summarize } from "./report";

/** docs/benchmarks.svg: horizontal bars of the measured medians, drawn by hand (no chart library). */

interface Bar {
  label: string;
  seconds: number;
  color: string;
  /** A lower bound (the run was stopped at a cap): drawn open-ended. */
  atLeast?: boolean;
  /** Thinner, lighter bar (an unchanged re-run under its first run). */
  minor?: boolean;
}

interface Panel {
  title: string;
  bars: Bar[];
}

const COLORS: Record<string, string> = {
  "ansible-playbook": "#d9822b",
  "cdktf deploy (ours)": "#1f6fb2",
  "terraform apply (ours)": "#5aa0d8",
  "terraform apply (floor)": "#8a8a8a",
  "terraform apply (ours, proposed layout)": "#2a9d8f",
  "terraform apply (floor, 2 connections)": "#b0b0b0",
  naive: "#c0392b",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (s: number) => (s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);

export function renderChart(r: BenchResults): string {
  const panels: Panel[] = [];
  const sizes = [...new Set(r.deploy.map((d) => d.hosts))].sort((a, b) => a - b);
  for (const n of sizes) {
    const bars: Bar[] = [];
    for (const side of SIDES) {
      const s = summarize(r, n, side);
      if (!s || !s.runs) continue;
      bars.push({ label: `${side}, first run`, seconds: median(s.first), color: COLORS[side] });
      bars.push({ label: "unchanged re-run", seconds: median(s.second), color: COLORS[side], minor: true });
    }
    panels.push({ title: `Deploy to ${n} lab hosts: median wall time (${r.rounds} round${r.rounds > 1 ? "s" : ""}, parallelism ${r.parallelism})`, bars });
  }
  const synthBars: Bar[] = [];
  if (r.naive) {
    const ours = r.synth.find((s) => s.hosts === r.naive!.hosts);
    if (ours) synthBars.push({ label: `ours, ${ours.hosts.toLocaleString("en")} hosts`, seconds: median(ours.seconds), color: COLORS["cdktf deploy (ours)"] });
    synthBars.push({ label: `naive, ${r.naive.hosts.toLocaleString("en")} hosts`, seconds: median(r.naive.seconds), color: COLORS.naive });
  }
  const big = r.synth.find((s) => s.hosts === 10000);
  if (big) synthBars.push({ label: "ours, 10,000 hosts", seconds: median(big.seconds), color: COLORS["cdktf deploy (ours)"] });
  const cli = r.cliSynth.find((s) => s.hosts === 10000);
  if (cli) synthBars.push({ label: "npm run synth, 10,000 hosts", seconds: median(cli.seconds), color: COLORS["terraform apply (ours)"] });
  if (synthBars.length) panels.push({ title: "Synthesis: wall time of one run (median)", bars: synthBars });
  const planBars: Bar[] = r.plan.filter((p) => p.hosts === 1000).map((p) => ({
    label: `${p.layout === "partial" ? p.features.join(" + ") : p.layout}, ${p.state === "empty" ? "empty state" : "no change"}`,
    seconds: p.seconds,
    atLeast: !p.completed,
    color: p.layout === "proposed" ? COLORS["cdktf deploy (ours)"] : p.layout === "partial" ? "#e39b8f" : COLORS.naive,
  }));
  if (planBars.length) panels.push({ title: "terraform plan, 1,000 hosts", bars: planBars });

  const W = 900;
  const left = 290;
  const barMax = 450;
  const rowH = 22;
  const minorH = 16;
  let y = 34;
  const out: string[] = [];
  out.push(`<text x="16" y="22" class="h1">cdktf-loopback-policy benchmarks: ${esc(r.date.slice(0, 10))}, ${esc(r.machine.cpu.replace(/\s+/g, " "))}${r.quick ? " (quick run)" : ""}</text>`);
  for (const p of panels) {
    y += 18;
    out.push(`<text x="16" y="${y}" class="h2">${esc(p.title)}</text>`);
    y += 8;
    const max = Math.max(...p.bars.map((b) => b.seconds), 1e-9);
    for (const b of p.bars) {
      const h = b.minor ? minorH : rowH;
      const w = Math.max(1, (b.seconds / max) * barMax);
      out.push(`<text x="${left - 8}" y="${y + h / 2 + 4}" class="${b.minor ? "lbl minor" : "lbl"}" text-anchor="end">${esc(b.label)}</text>`);
      out.push(`<rect x="${left}" y="${y + 2}" width="${w.toFixed(1)}" height="${h - 4}" fill="${b.color}"${b.minor ? ' fill-opacity="0.45"' : ""}/>`);
      if (b.atLeast) out.push(`<path d="M${(left + w).toFixed(1)} ${y + 2} l8 ${(h - 4) / 2} l-8 ${(h - 4) / 2} z" fill="${b.color}"/>`);
      out.push(`<text x="${(left + w + (b.atLeast ? 14 : 6)).toFixed(1)}" y="${y + h / 2 + 4}" class="${b.minor ? "val minor" : "val"}">${b.atLeast ? "&gt; " : ""}${fmt(b.seconds)}${b.atLeast ? " (stopped)" : ""}</text>`);
      y += h;
    }
    y += 6;
  }
  y += 10;
  out.push(`<text x="16" y="${y}" class="note">Measured by ${esc(r.command)} at commit ${esc(r.commit)}; numbers and method in docs/BENCHMARKS.md.</text>`);
  const H = y + 12;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Benchmark results">`,
    "<style>text{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;fill:#222}.h1{font-size:15px;font-weight:600}.h2{font-size:13px;font-weight:600}.lbl{font-size:12px}.val{font-size:12px}.minor{font-size:11px;fill:#555}.note{font-size:11px;fill:#666}</style>",
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...out,
    "</svg>",
    "",
  ].join("\n");
}
