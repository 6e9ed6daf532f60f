/** The benchmark's results, and how they are printed and published (docs/BENCHMARKS.md). */

export type DeploySide =
  | "ansible-playbook"
  | "cdktf deploy (ours)"
  | "terraform apply (ours)"
  | "terraform apply (floor)"
  | "terraform apply (ours, proposed layout)"
  | "terraform apply (floor, 2 connections)";
export const SIDES: readonly DeploySide[] = [
  "ansible-playbook", "cdktf deploy (ours)", "terraform apply (ours)", "terraform apply (floor)",
  "terraform apply (ours, proposed layout)", "terraform apply (floor, 2 connections)",
];

export interface SynthResult {
  hosts: number;
  runs: number;
  /** Wall time of each run. */
  seconds: number[];
  /** Peak RSS of each run (for `npm run synth`: of its largest process). */
  rssMB: number[];
  /** Size of cdk.tf.json. */
  jsonBytes: number;
}

export type PlanLayout = "as synthesized" | "partial" | "proposed";

export interface PlanResult {
  layout: PlanLayout;
  /** Which parts of the proposed layout the planned JSON has. */
  features: string[];
  hosts: number;
  /** What the state held: nothing (a first deploy) or every host (an unchanged re-deploy). */
  state: "empty" | "every host applied";
  seconds: number;
  capSeconds: number;
  /** False when the cap stopped it: `seconds` is then a lower bound. */
  completed: boolean;
  rssMB?: number;
}

export interface RunFigures {
  seconds: number;
  /** Connections accepted per host: the median, and the range when hosts differ. */
  sshPerHost: string;
  sshTotal: number;
  phases?: Record<string, number>;
  /** CPU seconds of the client (the command and the processes it waited for). */
  clientCpu?: number;
  /** CPU seconds used on each host (its SSH sessions and what they ran), averaged over the hosts. */
  hostCpuPerHost?: number;
}

export interface DeployRun {
  hosts: number;
  round: number;
  side: DeploySide;
  ok: boolean;
  problem?: string;
  /** 1-minute load average when the run started. */
  load1: number;
  /** On freshly reset hosts and an empty state. */
  first: RunFigures;
  /** Right after, nothing changed. */
  second: RunFigures;
}

export interface BenchResults {
  date: string;
  quick: boolean;
  command: string;
  commit: string;
  machine: { cpu: string; memoryGB: number; kernel: string; os: string; node: string; terraform: string; ansible: string; openssh: string; cdktf: string };
  parallelism: number;
  rounds: number;
  loadBefore: number;
  loadAfter: number;
  minutes: number;
  synth: SynthResult[];
  naive?: SynthResult;
  terraformSpawns?: { ours: { hosts: number; spawns: number }; naive: { hosts: number; spawns: number } };
  cliSynth: SynthResult[];
  /** The same synthesis through the cdktf CLI (`npx cdktf synth`), for its start-up cost. */
  cdktfCliSynth?: SynthResult;
  /** cdktf.json's `app` command alone. */
  tsNodeApp?: { hosts: number; runs: number; seconds: number[]; command?: string };
  plan: PlanResult[];
  deploy: DeployRun[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sec = (s: number) => (s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);
const mb = (m: number) => `${Math.round(m)} MB`;
const bytes = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MB` : `${(b / 1024).toFixed(1)} KB`);
const range = (xs: readonly number[], f: (x: number) => string) => (xs.length > 1 ? `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : f(xs[0]));
const cpu = (c: number) => (Number.isFinite(c) ? `${c.toFixed(c < 1 ? 2 : 1)} s` : "–");
const ratio = (r: number) => (r >= 10 ? `${r.toFixed(0)}x` : `${r.toFixed(2)}x`);

/** Median figures of one side at one fleet size, over the runs that did the job. */
export interface SideSummary {
  side: DeploySide;
  hosts: number;
  runs: number;
  failed: number;
  first: number[];
  second: number[];
  sshFirst: string[];
  sshSecond: string[];
  sshSecondTotal: number;
  phases: Record<string, number>;
  /** Medians over the first runs. */
  clientCpu: number;
  hostCpuPerHost: number;
}

export function summarize(r: BenchResults, hosts: number, side: DeploySide): SideSummary | undefined {
  const all = r.deploy.filter((d) => d.hosts === hosts && d.side === side);
  if (all.length === 0) return undefined;
  const ok = all.filter((d) => d.ok);
  const phases: Record<string, number> = {};
  const keys = new Set(ok.flatMap((d) => Object.keys(d.first.phases ?? {})));
  for (const k of keys) phases[k] = median(ok.map((d) => d.first.phases?.[k]).filter((x): x is number => x !== undefined));
  return {
    side, hosts, runs: ok.length, failed: all.length - ok.length,
    first: ok.map((d) => d.first.seconds), second: ok.map((d) => d.second.seconds),
    sshFirst: [...new Set(ok.map((d) => d.first.sshPerHost))], sshSecond: [...new Set(ok.map((d) => d.second.sshPerHost))],
    sshSecondTotal: ok.reduce((a, d) => a + d.second.sshTotal, 0),
    phases,
    clientCpu: median(ok.map((d) => d.first.clientCpu).filter((x): x is number => x !== undefined)),
    hostCpuPerHost: median(ok.map((d) => d.first.hostCpuPerHost).filter((x): x is number => x !== undefined)),
  };
}

export interface Verdict {
  target: string;
  measured: string;
  met: boolean | undefined;
}

export function verdicts(r: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  const s10k = r.synth.find((s) => s.hosts === 10000);
  if (s10k) {
    const t = median(s10k.seconds);
    const rss = Math.max(...s10k.rssMB);
    out.push({ target: "10,000 hosts synthesize in ≤ 5 s (the app's node process)", measured: sec(t), met: t <= 5 });
    out.push({ target: "… and ≤ 400 MB peak RSS", measured: mb(rss), met: rss <= 400 });
    const perHost = s10k.jsonBytes / s10k.hosts;
    out.push({ target: "≤ 1.5 KB of JSON per host (10,000 hosts)", measured: `${Math.round(perHost)} B`, met: perHost <= 1536 });
  }
  const cli = r.cliSynth.find((s) => s.hosts === 10000);
  if (cli) {
    const t = median(cli.seconds);
    out.push({ target: "… the same 5 s for what a user runs: `npm run synth` (no cdktf CLI)", measured: sec(t), met: t <= 5 });
  }
  const n = Math.max(0, ...r.deploy.map((d) => d.hosts));
  const ours = summarize(r, n, "cdktf deploy (ours)");
  const ansible = summarize(r, n, "ansible-playbook");
  const apply = summarize(r, n, "terraform apply (ours)");
  const floor = summarize(r, n, "terraform apply (floor)");
  if (ours && ansible && ours.runs && ansible.runs) {
    const x = median(ansible.first) / median(ours.first);
    out.push({ target: `${n} hosts: whole \`cdktf deploy\` ≥ 10x faster than ansible-playbook (first run)`, measured: `${ratio(x)} (${sec(median(ours.first))} vs ${sec(median(ansible.first))})`, met: x >= 10 });
    const y = median(ansible.second) / median(ours.second);
    out.push({ target: `… unchanged re-run`, measured: `${ratio(y)} (${sec(median(ours.second))} vs ${sec(median(ansible.second))})`, met: y >= 10 });
  }
  if (apply && floor && apply.runs && floor.runs) {
    const x = median(apply.first) / median(floor.first);
    out.push({ target: `${n} hosts: our \`terraform apply\` within 1.5x of the floor (first run)`, measured: `${ratio(x)} (${sec(median(apply.first))} vs ${sec(median(floor.first))})`, met: x <= 1.5 });
  }
  if (ours && ours.runs) {
    const sizes = [...new Set(r.deploy.map((d) => d.hosts))];
    const total = sizes.reduce((a, h) => a + (summarize(r, h, "cdktf deploy (ours)")?.sshSecondTotal ?? 0), 0);
    const runs = sizes.reduce((a, h) => a + (summarize(r, h, "cdktf deploy (ours)")?.runs ?? 0), 0);
    out.push({ target: "an unchanged re-deploy opens no SSH connection", measured: `${total} connection(s) in ${runs} unchanged re-deploys`, met: total === 0 });
  }
  return out;
}

const mark = (m: boolean | undefined) => (m === undefined ? "–" : m ? "**met**" : "**missed**");

/** The results section of docs/BENCHMARKS.md. */
export function renderMarkdown(r: BenchResults): string {
  const L: string[] = [];
  const m = r.machine;
  L.push(`_Generated by \`${r.command}\` on ${r.date.slice(0, 16).replace("T", " ")} UTC at commit \`${r.commit}\` (${r.minutes.toFixed(1)} min)._`);
  L.push(`${m.cpu}, ${m.memoryGB} GB, ${m.os}, kernel ${m.kernel}; Node ${m.node}, Terraform ${m.terraform}, cdktf ${m.cdktf}, ansible-core ${m.ansible}, ${m.openssh}.`);
  L.push(`1-minute load average ${r.loadBefore.toFixed(1)} at the start, ${r.loadAfter.toFixed(1)} at the end (the machine is shared; each deploy run's load at its start, which includes the bench's own previous run, is in the last table).`);
  L.push("");
  L.push("![Benchmark chart](benchmarks.svg)");
  L.push("");
  L.push("### Targets");
  L.push("");
  L.push("| target | measured | |");
  L.push("|---|---|---|");
  for (const v of verdicts(r)) L.push(`| ${v.target} | ${v.measured} | ${mark(v.met)} |`);
  L.push("");

  if (r.synth.length) {
    L.push("### Synthesis");
    L.push("");
    L.push("The bench app (`bench/synth-app.ts`, compiled with `tsc`, run as `node bench/.build/bench/synth-app.js`), one process per run; wall time by hyperfine, peak RSS by `/usr/bin/time`. Median (min–max).");
    L.push("");
    L.push("| design | hosts | runs | wall time | peak RSS | cdk.tf.json | JSON per host |");
    L.push("|---|---:|---:|---|---|---:|---:|");
    for (const s of r.synth) {
      L.push(`| ours: one \`terraform_data\` with \`for_each\` | ${s.hosts.toLocaleString("en")} | ${s.runs} | ${range(s.seconds, sec)} | ${range(s.rssMB, mb)} | ${bytes(s.jsonBytes)} | ${Math.round(s.jsonBytes / s.hosts)} B |`);
    }
    if (r.naive) {
      const s = r.naive;
      L.push(`| naive: a \`DataResource\` per host, script inline | ${s.hosts.toLocaleString("en")} | ${s.runs} | ${range(s.seconds, sec)} | ${range(s.rssMB, mb)} | ${bytes(s.jsonBytes)} | ${bytes(s.jsonBytes / s.hosts)} |`);
      const same = r.synth.find((x) => x.hosts === s.hosts);
      if (same) {
        L.push("");
        L.push(`At ${s.hosts.toLocaleString("en")} hosts the naive design takes **${ratio(median(s.seconds) / median(same.seconds))}** the time and writes **${ratio(s.jsonBytes / same.jsonBytes)}** the JSON.` +
          (r.terraformSpawns ? ` Terraform processes started during synthesis: ours ${r.terraformSpawns.ours.spawns} at ${r.terraformSpawns.ours.hosts.toLocaleString("en")} hosts; naive ${r.terraformSpawns.naive.spawns} at ${r.terraformSpawns.naive.hosts} hosts (\`terraform version\`, one per \`DataResource\`).` : ""));
      }
    }
    L.push("");
  }
  if (r.cliSynth.length) {
    L.push(`What a user runs, \`LOOPBACK_FLEET=fleet.json npm run synth\` (scripts/synth.js: cdktf.json's app${r.tsNodeApp?.command ? ` \`${r.tsNodeApp.command}\`` : ""} run as the cdktf CLI runs it, without the CLI), the same through \`npx cdktf synth\`, and the app alone: peak RSS is that of the largest process.`);
    L.push("");
    L.push("| command | hosts | runs | wall time | peak RSS |");
    L.push("|---|---:|---:|---|---|");
    for (const s of r.cliSynth) L.push(`| \`npm run synth\` | ${s.hosts.toLocaleString("en")} | ${s.runs} | ${range(s.seconds, sec)} | ${range(s.rssMB, mb)} |`);
    if (r.cdktfCliSynth) L.push(`| \`npx cdktf synth\` | ${r.cdktfCliSynth.hosts.toLocaleString("en")} | ${r.cdktfCliSynth.runs} | ${range(r.cdktfCliSynth.seconds, sec)} | ${range(r.cdktfCliSynth.rssMB, mb)} |`);
    if (r.tsNodeApp) L.push(`| \`${r.tsNodeApp.command ?? "npx ts-node main.ts"}\` (cdktf.json's app alone) | ${r.tsNodeApp.hosts.toLocaleString("en")} | ${r.tsNodeApp.runs} | ${range(r.tsNodeApp.seconds, sec)} | |`);
    L.push("");
  }
  if (r.plan.length) {
    L.push("### `terraform plan`");
    L.push("");
    L.push(`\`terraform init\` once, then \`terraform plan -input=false -lock=false\`, one run each; a plan still running after ${r.plan[0].capSeconds} s is stopped. *Empty state*: what a first deploy plans. *Every host applied*: what an unchanged re-deploy plans (a state of every host, made by applying the stack without its provisioners). *Proposed* and *partial*: the same synthesized JSON rewritten by the bench into the layout proposed below, or into a part of it. The parts: **small map** (\`for_each\` over host name → generation, the entries in a local), **map in a local** (\`for_each = local...\`, not a literal), **engine in a local** (the apply and confirm provisioners read the engine from a local instead of a literal).`);
    L.push("");
    L.push("| synthesized JSON | parts of the proposed layout it has | state | hosts | wall time | Terraform peak RSS |");
    L.push("|---|---|---|---:|---|---|");
    for (const p of r.plan) L.push(`| ${p.layout} | ${p.features.join(", ") || "none"} | ${p.state} | ${p.hosts.toLocaleString("en")} | ${p.completed ? sec(p.seconds) : `**> ${p.capSeconds} s** (stopped)`} | ${p.completed && p.rssMB ? mb(p.rssMB) : ""} |`);
    L.push("");
  }
  const sizes = [...new Set(r.deploy.map((d) => d.hosts))].sort((a, b) => a - b);
  if (sizes.length) {
    L.push("### Deploy to lab hosts");
    L.push("");
    L.push(`Median wall time over ${r.rounds} alternating round(s) per fleet size; Terraform parallelism ${r.parallelism} (\`-parallelism=${r.parallelism}\` / \`--terraform-parallelism ${r.parallelism}\`), Ansible \`forks = ${r.parallelism}\`. First run: hosts reset (rules flushed, rule files deleted) and state removed. Unchanged: the same command right after. SSH: connections accepted per host (sshd logs).`);
    L.push("");
    for (const n of sizes) {
      const ansible = summarize(r, n, "ansible-playbook");
      const floor = summarize(r, n, "terraform apply (floor)");
      L.push(`**${n} hosts**`);
      L.push("");
      L.push("| side | first run | unchanged re-run | SSH per host (first / unchanged) | first run vs Ansible | first run vs floor | CPU: client / per host (first run) |");
      L.push("|---|---|---|---|---:|---:|---|");
      for (const side of SIDES) {
        const s = summarize(r, n, side);
        if (!s) continue;
        if (!s.runs) {
          L.push(`| ${side} | all ${s.failed} run(s) failed | | | | | |`);
          continue;
        }
        const vsA = ansible?.runs && side !== "ansible-playbook" ? `${ratio(median(ansible.first) / median(s.first))} faster` : "";
        const vsF = floor?.runs && side !== "terraform apply (floor)" ? `${ratio(median(s.first) / median(floor.first))} the time` : "";
        L.push(`| ${side}${s.failed ? ` (${s.failed} failed run(s) left out)` : ""} | ${range(s.first, sec)} | ${range(s.second, sec)} | ${s.sshFirst.join(", ")} / ${s.sshSecond.join(", ")} | ${vsA} | ${vsF} | ${cpu(s.clientCpu)} / ${cpu(s.hostCpuPerHost)} |`);
      }
      L.push("");
      const phased = SIDES.map((side) => summarize(r, n, side)).filter((s): s is SideSummary => !!s && Object.keys(s.phases).length > 0);
      if (phased.length) {
        L.push(`Where the first run's time goes at ${n} hosts (medians, from the time each output line appeared):`);
        L.push("");
        L.push("| side | phases |");
        L.push("|---|---|");
        for (const s of phased) L.push(`| ${s.side} | ${Object.entries(s.phases).map(([k, v]) => `${k} ${sec(v)}`).join("; ")} |`);
        L.push("");
      }
    }
    L.push("<details><summary>Every deploy run</summary>");
    L.push("");
    L.push("| hosts | round | side | load | first run | SSH/host | CPU client / per host | unchanged | SSH/host | |");
    L.push("|---:|---:|---|---:|---:|---|---|---:|---|---|");
    for (const d of r.deploy) {
      L.push(`| ${d.hosts} | ${d.round} | ${d.side} | ${d.load1.toFixed(1)} | ${sec(d.first.seconds)} | ${d.first.sshPerHost} | ${cpu(d.first.clientCpu ?? NaN)} / ${cpu(d.first.hostCpuPerHost ?? NaN)} | ${sec(d.second.seconds)} | ${d.second.sshPerHost} | ${d.ok ? "ok" : `FAILED: ${d.problem}`} |`);
    }
    L.push("");
    L.push("</details>");
    L.push("");
  }
  return L.join("\n");
}

/** The console table. */
export function renderTable(r: BenchResults): string {
  const L: string[] = [];
  const row = (cells: string[], widths: number[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  if (r.synth.length) {
    L.push("", "SYNTHESIS (bench app, one node process per run; median, peak RSS max)");
    const w = [34, 7, 10, 10, 11, 10];
    L.push(row(["design", "hosts", "wall", "peak RSS", "JSON", "JSON/host"], w));
    const line = (d: string, s: SynthResult) => L.push(row([d, String(s.hosts), sec(median(s.seconds)), mb(Math.max(...s.rssMB)), bytes(s.jsonBytes), `${Math.round(s.jsonBytes / s.hosts)} B`], w));
    for (const s of r.synth) line("ours (for_each)", s);
    if (r.naive) line("naive (DataResource per host)", r.naive);
    for (const s of r.cliSynth) line("npm run synth", s);
    if (r.cdktfCliSynth) line("npx cdktf synth", r.cdktfCliSynth);
    if (r.tsNodeApp) L.push(row(["cdktf.json's app alone", String(r.tsNodeApp.hosts), sec(median(r.tsNodeApp.seconds)), "", "", ""], w));
    if (r.terraformSpawns) L.push(`terraform processes during synth: ours ${r.terraformSpawns.ours.spawns} at ${r.terraformSpawns.ours.hosts} hosts, naive ${r.terraformSpawns.naive.spawns} at ${r.terraformSpawns.naive.hosts} hosts`);
  }
  if (r.plan.length) {
    L.push("", "TERRAFORM PLAN");
    for (const p of r.plan) L.push(`  ${p.layout.padEnd(15)} ${`[${p.features.join(", ")}]`.padEnd(48)} ${p.state.padEnd(19)} ${String(p.hosts).padStart(6)} hosts  ${p.completed ? sec(p.seconds) : `> ${p.capSeconds} s (stopped)`}`);
  }
  const sizes = [...new Set(r.deploy.map((d) => d.hosts))].sort((a, b) => a - b);
  for (const n of sizes) {
    L.push("", `DEPLOY, ${n} lab hosts (median of ${r.rounds}; parallelism/forks ${r.parallelism})`);
    const w = [40, 10, 11, 12, 12, 11, 12];
    L.push(row(["side", "first", "unchanged", "ssh/host 1st", "ssh/host 2nd", "client CPU", "CPU per host"], w));
    for (const side of SIDES) {
      const s = summarize(r, n, side);
      if (!s) continue;
      L.push(row([side, s.runs ? sec(median(s.first)) : "FAILED", s.runs ? sec(median(s.second)) : "", s.sshFirst.join(","), s.sshSecond.join(","), cpu(s.clientCpu), cpu(s.hostCpuPerHost)], w));
    }
  }
  L.push("", "TARGETS");
  for (const v of verdicts(r)) L.push(`  [${v.met === undefined ? "-" : v.met ? "met" : "MISSED"}] ${v.target.replace(/`/g, "")}: ${v.measured}`);
  return L.join("\n");
}
