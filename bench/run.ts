/**
 * `npm run bench`: fleet-scale synthesis and a side-by-side deploy against Ansible on a lab fleet.
 *
 *   sudo npm run bench                 full run (about 20 minutes on 2 cores); writes docs/BENCHMARKS.md's results
 *                                      section, docs/benchmarks.svg and bench/results.json
 *   sudo npm run bench -- --quick      fewer runs and sizes (a few minutes); prints only, unless --write
 *
 * Options (any option but --write/--no-write makes a run that prints only, unless --write):
 *   --only synth|deploy     one half
 *   --rounds N              deploy rounds per fleet size (default 3; --quick 1)
 *   --hosts 10,25           deploy fleet sizes (default 10,25; --quick 10; at most 200)
 *   --sides a,b,...         deploy sides: ansible, cdktf, apply, floor (default all four), and two more for analysis:
 *                           apply-proposed (our stack rewritten into the proposed layout), floor-2conn (the floor
 *                           with its saves in a second remote-exec block, i.e. a second SSH connection); --extra
 *                           adds both
 *   --plan-cap S            stop a terraform plan after S seconds (default 60; --quick 20)
 *   --parallelism N         Terraform's -parallelism and Ansible's forks, for every side (default 10)
 *   --keep                  keep the work directory and leave the lab up
 *
 * Prints figures; it is not a test and does not gate CI. See docs/BENCHMARKS.md for the method.
 */
import { spawn, spawnSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "os";
import { join } from "path";
import { renderChart } from "./chart";
import { generateFleet } from "./fleet";
import { validateFleet } from "../lib/policy/validate";
import { BenchResults, DeployRun, DeploySide, PlanLayout, PlanResult, median, renderMarkdown, renderTable } from "./report";

const ROOT = join(__dirname, "..");
const BENCH = __dirname;
const LAB = join(ROOT, "lab", "lab.sh");
const HOSTS = join(BENCH, "hosts.sh");
const BUILD = join(BENCH, ".build");
const LAB_ID = process.env.LBP_LAB_ID ?? "3";
const LAB_DIR = process.env.LBP_LAB_DIR ?? `/run/lbp-lab${LAB_ID}`;
const STACK = "bench";
/** Terraform's -parallelism and Ansible's forks (Terraform's default; --parallelism N). */
let PARALLELISM = 10;

const SIDE_NAMES: Record<string, DeploySide> = {
  ansible: "ansible-playbook",
  cdktf: "cdktf deploy (ours)",
  apply: "terraform apply (ours)",
  floor: "terraform apply (floor)",
  "apply-proposed": "terraform apply (ours, proposed layout)",
  "floor-2conn": "terraform apply (floor, 2 connections)",
};

interface Options {
  quick: boolean;
  only: "all" | "synth" | "deploy";
  rounds: number;
  hosts: number[];
  sides: DeploySide[];
  planCap: number;
  write: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: "all", rounds: 0, hosts: [], sides: [], planCap: 0, write: true, keep: false };
  let writeSet = false;
  let custom = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (v === undefined) die(`${a} needs a value`);
      return v;
    };
    if (a === "--quick") o.quick = true;
    else if (a === "--write") { o.write = true; writeSet = true; }
    else if (a === "--no-write") { o.write = false; writeSet = true; }
    else if (a === "--keep") o.keep = true;
    else if (a.startsWith("--only")) {
      const v = value();
      if (v !== "synth" && v !== "deploy") die(`--only takes synth or deploy (got ${v})`);
      o.only = v;
    } else if (a.startsWith("--rounds")) {
      o.rounds = Number(value());
      if (!Number.isInteger(o.rounds) || o.rounds < 1) die("--rounds takes a whole number >= 1");
      custom = true;
    } else if (a.startsWith("--hosts")) {
      o.hosts = value().split(",").map(Number);
      if (o.hosts.some((n) => !Number.isInteger(n) || n < 1 || n > 200)) die("--hosts takes fleet sizes from 1 to 200, e.g. 10,25");
      custom = true;
    } else if (a.startsWith("--sides")) {
      o.sides = value().split(",").map((x) => SIDE_NAMES[x] ?? die(`unknown side ${x}: use ${Object.keys(SIDE_NAMES).join(", ")}`));
      custom = true;
    } else if (a === "--extra") {
      o.sides = [...new Set([...(o.sides.length ? o.sides : Object.values(SIDE_NAMES).slice(0, 4)), ...Object.values(SIDE_NAMES).slice(4)])];
      custom = true;
    } else if (a.startsWith("--parallelism")) {
      PARALLELISM = Number(value());
      if (!Number.isInteger(PARALLELISM) || PARALLELISM < 1) die("--parallelism takes a whole number >= 1");
      custom = true;
    } else if (a.startsWith("--plan-cap")) {
      o.planCap = Number(value());
      if (!(o.planCap > 0)) die("--plan-cap takes seconds > 0");
      custom = true;
    } else if (a === "--help" || a === "-h") {
      console.log(readFileSync(__filename, "utf8").split("*/")[0]);
      process.exit(0);
    } else die(`unknown option ${a} (see --help)`);
  }
  if ((o.quick || custom || o.only !== "all") && !writeSet) o.write = false;
  if (o.rounds === 0) o.rounds = o.quick ? 1 : 3;
  if (o.hosts.length === 0) o.hosts = o.quick ? [10] : [10, 25];
  if (o.sides.length === 0) o.sides = Object.values(SIDE_NAMES).slice(0, 4);
  if (o.planCap === 0) o.planCap = o.quick ? 20 : 60;
  return o;
}

function die(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/** Refuse clearly when the machine cannot run the benchmark. */
function preflight(): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) {
    problems.push("must run as root: the deploy benchmark drives a lab fleet of network namespaces (sudo npm run bench)");
  }
  const tools: Array<[string, string]> = [
    ["ansible-playbook", "install the Debian package ansible-core (apt-get install ansible-core)"],
    ["hyperfine", "install the Debian package hyperfine (apt-get install hyperfine)"],
    ["/usr/bin/time", "install the Debian package time (apt-get install time); the shell builtin cannot report peak RSS"],
    ["terraform", "Terraform 1.4+ must be on PATH"],
    ["ip", "install the Debian package iproute2"],
    ["/usr/sbin/sshd", "install the Debian package openssh-server"],
    ["ssh", "install the Debian package openssh-client"],
    ["iptables", "install the Debian package iptables"],
    ["python3", "install the Debian package python3"],
  ];
  for (const [tool, fix] of tools) {
    const found = tool.startsWith("/")
      ? existsSync(tool)
      : spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
    if (!found) problems.push(`${tool} is missing: ${fix}`);
  }
  if (problems.length > 0) {
    console.error(`bench: cannot run:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------------------------------------ processes

interface Env {
  [key: string]: string | undefined;
}

const TF_ENV: Env = {
  TF_CLI_CONFIG_FILE: process.env.TF_CLI_CONFIG_FILE && existsSync(process.env.TF_CLI_CONFIG_FILE) ? process.env.TF_CLI_CONFIG_FILE : join(ROOT, "terraform.rc"),
  CHECKPOINT_DISABLE: "1",
  TF_IN_AUTOMATION: "1",
};

/** Run to completion; throw with the output on failure. */
function sh(cmd: string, args: string[], opts: { cwd?: string; env?: Env; allowFail?: boolean; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: opts.timeoutMs,
  });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.error}):\n${(r.stdout ?? "").slice(-3000)}\n${(r.stderr ?? "").slice(-3000)}`);
  }
  return `${r.stdout ?? ""}${r.stderr ?? ""}`;
}

interface Timed {
  seconds: number;
  /** User + system CPU seconds of the command and every descendant it waited for (with `cpuFile`). */
  cpuSeconds?: number;
  status: number;
  timedOut: boolean;
  /** Output lines (ANSI colours removed) with the second they appeared at, from the start. */
  lines: Array<{ t: number; text: string }>;
}

/** Run a command in its own process group, timing it and stamping each output line. */
function timed(cmd: string, args: string[], opts: { cwd?: string; env?: Env; timeoutSeconds: number; logFile?: string; cpuFile?: string }): Promise<Timed> {
  if (opts.cpuFile) {
    rmSync(opts.cpuFile, { force: true });
    args = ["-o", opts.cpuFile, "-f", "%U %S", cmd, ...args];
    cmd = "/usr/bin/time";
  }
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - start) / 1e9;
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const lines: Array<{ t: number; text: string }> = [];
    const partial = { out: "", err: "" };
    const feed = (key: "out" | "err") => (chunk: Buffer) => {
      const t = since();
      const parts = (partial[key] + chunk.toString("utf8")).split("\n");
      partial[key] = parts.pop() ?? "";
      for (const p of parts) lines.push({ t, text: p.replace(/\x1b\[[0-9;]*m/g, "") });
    };
    child.stdout.on("data", feed("out"));
    child.stderr.on("data", feed("err"));
    let timedOut = false;
    const signal = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      signal("SIGTERM");
      // Terraform finishes what it is doing on SIGTERM; the cap is a cap.
      kill = setTimeout(() => signal("SIGKILL"), 3000);
    }, opts.timeoutSeconds * 1000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (kill) clearTimeout(kill);
      const seconds = since();
      for (const key of ["out", "err"] as const) if (partial[key]) lines.push({ t: seconds, text: partial[key] });
      if (opts.logFile) writeFileSync(opts.logFile, lines.map((l) => `${l.t.toFixed(3).padStart(8)} ${l.text}`).join("\n") + "\n");
      let cpuSeconds: number | undefined;
      if (opts.cpuFile && existsSync(opts.cpuFile)) {
        const m = readFileSync(opts.cpuFile, "utf8").trim().split("\n").pop()?.match(/^([\d.]+) ([\d.]+)$/);
        if (m) cpuSeconds = Number(m[1]) + Number(m[2]);
      }
      resolve({ seconds, status: code ?? -1, timedOut, lines, cpuSeconds });
    });
  });
}

/** hyperfine: wall times in seconds of `runs` runs of `command` (no shell). */
function hyperfine(command: string, opts: { runs: number; warmup?: number; prepare?: string; cwd: string; env: Env; json: string }): number[] {
  const args = ["-N", "--style", "none", "--runs", String(opts.runs), "--export-json", opts.json];
  if (opts.warmup) args.push("--warmup", String(opts.warmup));
  if (opts.prepare) args.push("--prepare", opts.prepare);
  args.push(command);
  sh("hyperfine", args, { cwd: opts.cwd, env: opts.env });
  const out = JSON.parse(readFileSync(opts.json, "utf8"));
  return out.results[0].times as number[];
}

/** Peak RSS in MB of each run recorded by `/usr/bin/time -a -o FILE -f %M` (the warm-up runs first). */
function rssOf(file: string, skip: number): number[] {
  const kb = readFileSync(file, "utf8").trim().split("\n").map(Number).filter((n) => Number.isFinite(n) && n > 0);
  return kb.slice(skip).map((k) => k / 1024);
}

// ------------------------------------------------------------------------------------------------ synthesis

async function benchSynth(o: Options, work: string, results: BenchResults): Promise<void> {
  log("synthesis: compiling the bench app (bench/synth-app.ts -> bench/.build, tsc)");
  rmSync(BUILD, { recursive: true, force: true });
  sh("npx", ["--no-install", "tsc", "-p", join(BENCH, "tsconfig.json"), "--outDir", BUILD]);
  mkdirSync(join(BUILD, "lib", "render"), { recursive: true });
  for (const f of readdirSync(join(ROOT, "lib", "render")).filter((n) => n.endsWith(".sh"))) {
    cpSync(join(ROOT, "lib", "render", f), join(BUILD, "lib", "render", f));
  }
  const app = join(BUILD, "bench", "synth-app.js");

  const sizes = [100, 1000, 10000];
  const runsFor = (n: number) => (o.quick ? 1 : n >= 10000 ? 3 : 5);
  const dir = join(work, "synth");
  mkdirSync(dir, { recursive: true });
  const fleetOf = (n: number) => {
    const f = join(dir, `fleet-${n}.json`);
    if (!existsSync(f)) writeFileSync(f, JSON.stringify(generateFleet(n, STACK), null, 1));
    return f;
  };

  for (const n of sizes) {
    const out = join(dir, `out-${n}`);
    const rss = join(dir, `rss-${n}.txt`);
    rmSync(rss, { force: true });
    log(`synthesis: ${n} hosts, ${runsFor(n)} run(s)`);
    const times = hyperfine(`/usr/bin/time -a -o ${rss} -f %M node ${app} ours`, {
      runs: runsFor(n), warmup: 1, prepare: `rm -rf ${out}`, cwd: dir,
      env: { LOOPBACK_FLEET: fleetOf(n), CDKTF_OUTDIR: out }, json: join(dir, `hf-${n}.json`),
    });
    const bytes = statSync(join(out, "stacks", STACK, "cdk.tf.json")).size;
    results.synth.push({ hosts: n, runs: times.length, seconds: times, rssMB: rssOf(rss, 1), jsonBytes: bytes });
  }

  // The naive design: one DataResource per host, the whole script inline.
  const naiveN = o.quick ? 100 : 1000;
  {
    const out = join(dir, `naive-${naiveN}`);
    const rss = join(dir, `rss-naive.txt`);
    log(`synthesis: naive design at ${naiveN} hosts, 1 run (one DataResource per host runs \`terraform version\` once each)`);
    const times = hyperfine(`/usr/bin/time -a -o ${rss} -f %M node ${app} naive`, {
      runs: 1, prepare: `rm -rf ${out}`, cwd: dir, env: { LOOPBACK_FLEET: fleetOf(naiveN), CDKTF_OUTDIR: out }, json: join(dir, "hf-naive.json"),
    });
    const bytes = statSync(join(out, "stacks", STACK, "cdk.tf.json")).size;
    results.naive = { hosts: naiveN, runs: 1, seconds: times, rssMB: rssOf(rss, 0), jsonBytes: bytes };
    rmSync(out, { recursive: true, force: true });
  }

  // How many `terraform` processes each design starts while synthesizing (a logging shim first on PATH).
  {
    const shim = join(dir, "shim");
    mkdirSync(shim, { recursive: true });
    const calls = join(dir, "terraform-calls.txt");
    const real = sh("sh", ["-c", "command -v terraform"]).trim();
    writeFileSync(join(shim, "terraform"), `#!/bin/sh\necho "$*" >> ${calls}\nexec ${real} "$@"\n`, { mode: 0o755 });
    const count = (mode: string, n: number) => {
      rmSync(calls, { force: true });
      sh("node", [app, mode], { cwd: dir, env: { LOOPBACK_FLEET: fleetOf(n), CDKTF_OUTDIR: join(dir, "shim-out"), PATH: `${shim}:${process.env.PATH}` } });
      return existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n").length : 0;
    };
    results.terraformSpawns = { ours: { hosts: 1000, spawns: count("ours", 1000) }, naive: { hosts: 20, spawns: count("naive", 20) } };
    rmSync(join(dir, "shim-out"), { recursive: true, force: true });
  }

  // What a user pays: `npm run synth` (scripts/synth.js running cdktf.json's app as the cdktf CLI would), the same
  // through the cdktf CLI (`npx cdktf synth`), and that app alone.
  const cliRuns = o.quick ? 1 : 2;
  const cliRunsAt = (n: number) => (n < 10000 ? 1 : cliRuns);
  for (const n of [100, 10000]) {
    const out = join(dir, `cli-${n}`);
    const rss = join(dir, `rss-cli-${n}.txt`);
    log(`synthesis: npm run synth at ${n} hosts, ${cliRunsAt(n)} run(s)`);
    const times = hyperfine(`/usr/bin/time -a -o ${rss} -f %M npm run --silent synth -- --output ${out}`, {
      runs: cliRunsAt(n), prepare: `rm -rf ${out}`, cwd: ROOT, env: { LOOPBACK_FLEET: fleetOf(n) }, json: join(dir, `hf-cli-${n}.json`),
    });
    results.cliSynth.push({ hosts: n, runs: times.length, seconds: times, rssMB: rssOf(rss, 0), jsonBytes: statSync(join(out, "stacks", STACK, "cdk.tf.json")).size });
  }
  {
    const n = 10000;
    const out = join(dir, "cdktf-cli-out");
    const rss = join(dir, "rss-cdktf-cli.txt");
    log(`synthesis: npx cdktf synth at ${n} hosts, ${cliRuns} run(s)`);
    const times = hyperfine(`/usr/bin/time -a -o ${rss} -f %M bash scripts/cdktf.sh synth --output ${out}`, {
      runs: cliRuns, prepare: `rm -rf ${out}`, cwd: ROOT, env: { LOOPBACK_FLEET: fleetOf(n) }, json: join(dir, "hf-cdktf-cli.json"),
    });
    results.cdktfCliSynth = { hosts: n, runs: times.length, seconds: times, rssMB: rssOf(rss, 0), jsonBytes: statSync(join(out, "stacks", STACK, "cdk.tf.json")).size };
  }
  {
    const n = 10000;
    const out = join(dir, "tsnode-out");
    const command = String(JSON.parse(readFileSync(join(ROOT, "cdktf.json"), "utf8")).app);
    log(`synthesis: ${command} (cdktf.json's app) at ${n} hosts, ${cliRuns} run(s)`);
    const times = hyperfine(command, {
      runs: cliRuns, prepare: `rm -rf ${out}`, cwd: ROOT, env: { LOOPBACK_FLEET: fleetOf(n), CDKTF_OUTDIR: out }, json: join(dir, "hf-tsnode.json"),
    });
    results.tsNodeApp = { hosts: n, runs: times.length, seconds: times, command };
  }

  // terraform plan, at fleet sizes of its own.
  const synthesize = (n: number) => {
    const out = join(dir, `out-${n}`);
    if (!existsSync(join(out, "stacks", STACK, "cdk.tf.json"))) sh("node", [app, "ours"], { cwd: dir, env: { LOOPBACK_FLEET: fleetOf(n), CDKTF_OUTDIR: out } });
    return out;
  };
  await benchPlan(o, dir, synthesize, results);
}

/**
 * `terraform plan` of the synthesized stack: against an empty state (what a first deploy plans) and against a
 * state holding every host (what an unchanged re-deploy plans). At 1,000 hosts also the same JSON rewritten into
 * the proposed layout, and into each partial step towards it, to show what each part buys. A plan still running
 * at the cap is stopped and reported as "> cap".
 */
async function benchPlan(o: Options, dir: string, synthesize: (n: number) => string, results: BenchResults): Promise<void> {
  const cap = o.planCap;
  const stackOf = (n: number) => JSON.parse(readFileSync(join(synthesize(n), "stacks", STACK, "cdk.tf.json"), "utf8"));
  let count = 0;
  const prepare = (json: any, state?: string) => {
    const d = join(dir, `plan-${++count}`);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    json.terraform.backend = { local: { path: join(d, "terraform.tfstate") } };
    writeFileSync(join(d, "cdk.tf.json"), JSON.stringify(json));
    sh("terraform", ["init", "-input=false", "-no-color"], { cwd: d, env: TF_ENV });
    // After init: init takes a terraform.tfstate it finds in the directory for a state to migrate, and empties it.
    if (state) cpSync(state, join(d, "terraform.tfstate"));
    return d;
  };
  const plan = async (layout: PlanLayout, json: any, hosts: number, state: PlanResult["state"], stateFile?: string) => {
    const features = layoutOf(json);
    const d = prepare(json, stateFile);
    log(`plan: ${hosts} hosts, ${state} state, ${layout} [${features.join(", ") || "none of the proposed parts"}] (cap ${cap}s)`);
    const r = await timed("/usr/bin/time", ["-f", "rss %M", "terraform", "plan", "-input=false", "-lock=false", "-no-color"], { cwd: d, env: TF_ENV, timeoutSeconds: cap, logFile: join(d, "plan.log") });
    const expected = state === "empty" ? new RegExp(`Plan: ${hosts} to add, 0 to change, 0 to destroy`) : /No changes\./;
    const done = !r.timedOut && r.status === 0 && r.lines.some((l) => expected.test(l.text));
    if (!r.timedOut && !done) throw new Error(`terraform plan in ${d} did not plan what it should (exit ${r.status}): see plan.log`);
    const rss = r.lines.find((l) => /^rss \d+$/.test(l.text));
    results.plan.push({ layout, features, hosts, state, seconds: done ? r.seconds : cap, capSeconds: cap, completed: done, rssMB: done && rss ? Number(rss.text.split(" ")[1]) / 1024 : undefined });
  };

  if (!o.quick) await plan("as synthesized", stackOf(100), 100, "empty");
  const n = 1000;
  const synthesized = stackOf(n);
  await plan("as synthesized", synthesized, n, "empty");
  if (!o.quick) {
    // Each partial step that the synthesized JSON does not already take, in isolation.
    const seen = new Set([layoutOf(synthesized).join("+"), ALL_PARTS.join("+")]);
    for (const parts of [["small map"], ["small map", "map in a local"], ["small map", "engine in a local"]] as LayoutPart[][]) {
      const j = withParts(synthesized, parts);
      const key = layoutOf(j).join("+");
      if (seen.has(key)) continue;
      seen.add(key);
      await plan("partial", j, n, "empty");
    }
  }
  await plan("proposed", withParts(synthesized, ALL_PARTS), n, "empty");
  if (o.quick) return;
  // A state holding every host: apply the proposed layout without its provisioners (same addresses and values).
  const bare = withParts(synthesized, ALL_PARTS);
  for (const res of Object.values<any>(bare.resource.terraform_data)) {
    delete res.provisioner;
    delete res.connection;
  }
  const seed = prepare(bare);
  log(`plan: building a state of ${n} hosts (apply without provisioners)`);
  sh("terraform", ["apply", "-auto-approve", "-input=false", "-no-color", "-lock=false"], { cwd: seed, env: TF_ENV, timeoutMs: 600_000 });
  const state = join(seed, "terraform.tfstate");
  await plan("as synthesized", synthesized, n, "every host applied", state);
  await plan("proposed", withParts(synthesized, ALL_PARTS), n, "every host applied", state);
}

/**
 * The parts of the layout proposed for lib/constructs (docs/BENCHMARKS.md), each made by rewriting the
 * synthesized JSON:
 *  - "small map": `for_each` over host name -> generation (strings), the host entries in a local read with
 *    `local.<id>_hosts[each.key]`, instead of `for_each` over the entries themselves;
 *  - "map in a local": that map in a local, `for_each = local.<id>_generations`, instead of a literal;
 *  - "engine in a local": the engine in a local read by the apply and confirm provisioners (the destroy-time one
 *    keeps its literal: destroy provisioners may only reference self, and a plan of creates does not evaluate it).
 * Addresses, `input` and `triggers_replace` values stay the same, so every layout shares a state.
 */
type LayoutPart = "small map" | "map in a local" | "engine in a local";
const ALL_PARTS: LayoutPart[] = ["small map", "map in a local", "engine in a local"];

/** The parts a synthesized stack already has (judged on its first terraform_data with for_each). */
function layoutOf(j: any): LayoutPart[] {
  const res = Object.values<any>(j.resource?.terraform_data ?? {}).find((r) => r.for_each !== undefined);
  if (!res) return [];
  const local = typeof res.for_each === "string" ? res.for_each.match(/^\$\{local\.([A-Za-z0-9_-]+)\}$/)?.[1] : undefined;
  const map = local ? j.locals?.[local] : res.for_each;
  const parts: LayoutPart[] = [];
  if (map && typeof map === "object" && Object.values(map).every((v) => typeof v === "string")) parts.push("small map");
  if (local) parts.push("map in a local");
  if (String(res.provisioner?.[0]?.["remote-exec"]?.inline?.[3] ?? "").startsWith("${local.")) parts.push("engine in a local");
  return parts;
}

function withParts(j: any, parts: LayoutPart[]): any {
  const copy = JSON.parse(JSON.stringify(j));
  copy.locals ??= {};
  for (const [name, res] of Object.entries<any>(copy.resource?.terraform_data ?? {})) {
    if (res.for_each === undefined) continue;
    if (parts.includes("small map") && typeof res.for_each === "object" && Object.values(res.for_each).some((v) => typeof v === "object")) {
      copy.locals[`${name}_hosts`] = res.for_each;
      res.for_each = Object.fromEntries(Object.entries<any>(res.for_each).map(([k, v]) => [k, v.generation]));
      res.input = String(res.input).replace(/each\.value/g, `local.${name}_hosts[each.key]`);
      if (res.triggers_replace === "${each.value.generation}") res.triggers_replace = "${each.value}";
    }
    if (parts.includes("map in a local") && typeof res.for_each === "object") {
      copy.locals[`${name}_for_each`] = res.for_each;
      res.for_each = `\${local.${name}_for_each}`;
    }
    const engine = res.provisioner?.[0]?.["remote-exec"]?.inline?.[3];
    if (parts.includes("engine in a local") && typeof engine === "string" && !engine.startsWith("${local.")) {
      copy.locals[`${name}_engine`] = engine;
      for (const block of res.provisioner) {
        if (block["remote-exec"].when !== "destroy") block["remote-exec"].inline[3] = `\${local.${name}_engine}`;
      }
    }
  }
  return copy;
}

/** The whole proposed layout. */
function proposedLayout(j: any): any {
  return withParts(j, ALL_PARTS);
}

// ------------------------------------------------------------------------------------------------ deploy

/** The one key Terraform negotiates among a lab host's keys: what the construct pins (validateFleet picks it). */
function pinnedKey(h: LabHost): string {
  return validateFleet({ hosts: [{ name: h.name, address: h.address, hostKey: h.hostKey }] }).hosts[0].hostKey;
}

interface LabHost {
  name: string;
  address: string;
  /** The host's keys, as lab.sh writes them (all of them: see validate.ts's checkHostKey). */
  hostKey: string | string[];
  labels: { namespace: string; ipv6Address: string };
}
interface LabFleet {
  resourceType: string;
  connection: { user: string; privateKeyPath: string; timeoutSeconds: number };
  hosts: LabHost[];
}

function lab(args: string[]): string {
  return sh("bash", [LAB, ...args], { env: { LBP_LAB_ID: LAB_ID, LBP_LAB_DIR: LAB_DIR }, timeoutMs: 300_000 });
}

/** Accepted SSH connections per host so far, from each host's sshd log. */
function sshCounts(hosts: LabHost[]): number[] {
  return hosts.map((h) => {
    const f = join(LAB_DIR, "hosts", h.name, "sshd.log");
    return (readFileSync(f, "utf8").match(/Accepted publickey/g) ?? []).length;
  });
}

interface SideSetup {
  side: DeploySide;
  /** Remove this side's Terraform state (and anything else a first run must not find). */
  resetState(): void;
  /** Run once, logging to `log` and recording the CPU time of the client side in `cpu`. */
  run(log: string, cpu: string): Promise<Timed>;
  /** After a run: close what the run left open (Ansible's ControlPersist masters). */
  after?(): void;
}

async function benchDeploy(o: Options, work: string, results: BenchResults): Promise<void> {
  const sizes = o.hosts;
  const maxN = Math.max(...sizes);
  log(`deploy: lab up ${maxN} (LBP_LAB_ID=${LAB_ID}, LBP_LAB_DIR=${LAB_DIR})`);
  lab(["up", String(maxN)]);
  try {
    const fleet: LabFleet = JSON.parse(readFileSync(join(LAB_DIR, "fleet.json"), "utf8"));
    for (const n of sizes) {
      const hosts = fleet.hosts.slice(0, n);
      const sides = setUpSides(work, fleet, hosts, n).filter((x) => o.sides.includes(x.side));
      for (let round = 1; round <= o.rounds; round++) {
        const order = round % 2 === 1 ? sides : [...sides].reverse();
        for (const s of order) {
          const run = await deployOnce(s, hosts, work, n, round);
          results.deploy.push(run);
          log(`deploy: ${n} hosts, round ${round}, ${s.side}: first ${run.first.seconds.toFixed(1)}s (${run.first.sshPerHost} ssh/host), unchanged ${run.second.seconds.toFixed(1)}s (${run.second.sshPerHost} ssh/host)${run.ok ? "" : `  FAILED: ${run.problem}`}`);
        }
      }
    }
  } finally {
    for (const f of [`terraform.${STACK}.tfstate`, `terraform.${STACK}.tfstate.backup`]) rmSync(join(ROOT, f), { force: true });
    if (!o.keep) {
      log("deploy: lab down");
      lab(["down"]);
    } else log(`deploy: --keep: the lab stays up (LBP_LAB_ID=${LAB_ID} LBP_LAB_DIR=${LAB_DIR} bash lab/lab.sh down)`);
  }
}

function setUpSides(work: string, fleet: LabFleet, hosts: LabHost[], n: number): SideSetup[] {
  const d = join(work, `deploy-${n}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });

  // Ours, whole: `npm run deploy -- --auto-approve` with a fleet file of the lab hosts (safety features on).
  const fleetFile = join(d, "fleet.json");
  writeFileSync(fleetFile, JSON.stringify({ ...fleet, stack: STACK, hosts }, null, 1));
  const cdktfOut = join(d, "cdktf.out");
  const ourState = [join(ROOT, `terraform.${STACK}.tfstate`), join(ROOT, `terraform.${STACK}.tfstate.backup`)];
  const cdktf: SideSetup = {
    side: "cdktf deploy (ours)",
    resetState: () => {
      for (const f of ourState) rmSync(f, { force: true });
      rmSync(cdktfOut, { recursive: true, force: true });
    },
    run: (logFile, cpuFile) => timed("npm", ["run", "--silent", "deploy", "--", "--auto-approve", "--no-color", "--terraform-parallelism", String(PARALLELISM), "--output", cdktfOut], {
      cwd: ROOT, env: { LOOPBACK_FLEET: fleetFile, CI: "true" }, timeoutSeconds: 900, logFile, cpuFile,
    }),
  };

  /** A side that runs plain `terraform apply` in dir (initialized here once) with its state in the file state. */
  const applyIn = (side: DeploySide, dir: string, state: string): SideSetup => {
    sh("terraform", ["init", "-input=false", "-no-color"], { cwd: dir, env: TF_ENV });
    return {
      side,
      resetState: () => rmSync(state, { force: true }),
      run: (logFile, cpuFile) => timed("terraform", ["apply", "-auto-approve", "-input=false", "-no-color", `-parallelism=${PARALLELISM}`], { cwd: dir, env: TF_ENV, timeoutSeconds: 900, logFile, cpuFile }),
    };
  };
  /** A directory holding one Terraform JSON stack (as main.tf.json) whose local state is in it. */
  const stackDir = (name: string, stack: (state: string) => object) => {
    const dir = join(d, name);
    mkdirSync(dir, { recursive: true });
    const state = join(dir, "terraform.tfstate");
    writeFileSync(join(dir, "main.tf.json"), JSON.stringify(stack(state), null, 1));
    return { dir, state };
  };

  // Ours, terraform alone: the same synthesized stack, `terraform init` once, then `terraform apply`.
  const applyOut = join(d, "apply.out");
  sh("npm", ["run", "--silent", "synth", "--", "--output", applyOut], { env: { LOOPBACK_FLEET: fleetFile } });
  const applyDir = join(applyOut, "stacks", STACK);
  const applyState = join(d, "apply.tfstate");
  writeFileSync(join(applyDir, "bench_override.tf.json"), JSON.stringify({ terraform: { backend: { local: { path: applyState } } } }));
  const apply = applyIn("terraform apply (ours)", applyDir, applyState);

  // The floor: hand-written Terraform JSON, one terraform_data per host, one remote-exec with the six rules and the save.
  const floorStackDir = stackDir("floor", (state) => floorStack(fleet, hosts, state));
  const floor = applyIn("terraform apply (floor)", floorStackDir.dir, floorStackDir.state);

  // Ansible: bench/ansible/loopback.yml, inventory from the lab fleet file, forks = Terraform's parallelism.
  const ans = join(d, "ansible");
  mkdirSync(ans, { recursive: true });
  const cp = join(ans, "cp");
  writeFileSync(join(ans, "inventory.ini"), [
    "[fleet]",
    ...hosts.map((h) => `${h.name} ansible_host=${h.address}`),
    "",
    "[fleet:vars]",
    `ansible_user=${fleet.connection.user}`,
    `ansible_ssh_private_key_file=${fleet.connection.privateKeyPath}`,
    `ansible_ssh_common_args='-o UserKnownHostsFile=${join(LAB_DIR, "known_hosts")} -o StrictHostKeyChecking=yes'`,
    "",
  ].join("\n"));
  writeFileSync(join(ans, "ansible.cfg"), [
    "[defaults]",
    `forks = ${PARALLELISM}`,
    "host_key_checking = True",
    "interpreter_python = auto_silent",
    "retry_files_enabled = False",
    "nocolor = True",
    "[ssh_connection]",
    `control_path_dir = ${cp}`,
    "",
  ].join("\n"));
  const closeMasters = () => {
    if (!existsSync(cp)) return;
    for (const s of readdirSync(cp)) sh("ssh", ["-o", `ControlPath=${join(cp, s)}`, "-O", "exit", "lab"], { allowFail: true });
  };
  const ansible: SideSetup = {
    side: "ansible-playbook",
    resetState: closeMasters,
    run: (logFile, cpuFile) => timed("ansible-playbook", ["-i", join(ans, "inventory.ini"), join(BENCH, "ansible", "loopback.yml")], {
      cwd: ans, env: { ANSIBLE_CONFIG: join(ans, "ansible.cfg") }, timeoutSeconds: 1200, logFile, cpuFile,
    }),
    after: closeMasters,
  };
  // For analysis (--extra): our stack in the proposed layout, and the floor with a second SSH connection.
  const proposedDir = stackDir("apply-proposed", (state) => {
    const proposed = proposedLayout(JSON.parse(readFileSync(join(applyDir, "cdk.tf.json"), "utf8")));
    proposed.terraform.backend = { local: { path: state } };
    return proposed;
  });
  const floor2 = stackDir("floor-2conn", (state) => floorStack(fleet, hosts, state, true));
  return [
    ansible, cdktf, apply, floor,
    applyIn("terraform apply (ours, proposed layout)", proposedDir.dir, proposedDir.state),
    applyIn("terraform apply (floor, 2 connections)", floor2.dir, floor2.state),
  ];
}

/** The floor: one remote-exec with the rules and the saves; with `twoConnections`, the saves in a second one. */
function floorStack(fleet: LabFleet, hosts: LabHost[], state: string, twoConnections = false): object {
  const commands = [
    "iptables -A INPUT -i lo -j ACCEPT",
    "iptables -A INPUT -s 127.0.0.0/8 ! -i lo -j DROP",
    "iptables -A OUTPUT -o lo -j ACCEPT",
    "ip6tables -A INPUT -i lo -j ACCEPT",
    "ip6tables -A INPUT -s ::1/128 ! -i lo -j DROP",
    "ip6tables -A OUTPUT -o lo -j ACCEPT",
    "iptables-save > /etc/iptables/rules.v4",
    "ip6tables-save > /etc/iptables/rules.v6",
  ];
  return {
    terraform: { required_version: ">= 1.4", backend: { local: { path: state } } },
    locals: { hosts: Object.fromEntries(hosts.map((h) => [h.name, { address: h.address, host_key: pinnedKey(h) }])) },
    resource: {
      terraform_data: {
        floor: {
          for_each: "${local.hosts}",
          input: "${each.value}",
          connection: {
            type: "ssh",
            host: "${self.input.address}",
            user: fleet.connection.user,
            private_key: `\${file("${fleet.connection.privateKeyPath}")}`,
            host_key: "${self.input.host_key}",
            timeout: `${fleet.connection.timeoutSeconds}s`,
          },
          provisioner: twoConnections
            ? [{ "remote-exec": { inline: commands.slice(0, 6) } }, { "remote-exec": { inline: commands.slice(6) } }]
            : [{ "remote-exec": { inline: commands } }],
        },
      },
    },
  };
}

async function deployOnce(s: SideSetup, hosts: LabHost[], work: string, n: number, round: number): Promise<DeployRun> {
  const ns = hosts.map((h) => h.labels.namespace);
  const logs = join(work, "logs");
  mkdirSync(logs, { recursive: true });
  const tag = `${n}-${round}-${s.side.replace(/[^a-z]+/g, "_")}`;
  sh("bash", [HOSTS, "reset", ...ns]);
  s.resetState();
  const load = loadavg()[0];
  const measure = async (which: string) => {
    const before = sshCounts(hosts);
    const cpu0 = hostCpu(hosts);
    const r = await s.run(join(logs, `${tag}-${which}.log`), join(logs, `${tag}-${which}.cpu`));
    s.after?.();
    await new Promise((res) => setTimeout(res, 300)); // let each sshd reap its sessions
    const after = sshCounts(hosts);
    const deltas = after.map((a, i) => a - before[i]);
    return { r, ssh: deltas, hostCpu: hostCpu(hosts) - cpu0 };
  };
  const first = await measure("first");
  const check = sh("bash", [HOSTS, "check", ...ns], { allowFail: true }).trim();
  const second = await measure("second");
  let problem = "";
  if (first.r.timedOut || first.r.status !== 0) problem = `first run exited ${first.r.status}${first.r.timedOut ? " (timed out)" : ""}; log ${join(logs, `${tag}-first.log`)}`;
  else if (check) problem = `hosts not converged after the first run: ${check.split("\n").slice(0, 3).join("; ")}`;
  else if (second.r.timedOut || second.r.status !== 0) problem = `second run exited ${second.r.status}; log ${join(logs, `${tag}-second.log`)}`;
  return {
    hosts: n, round, side: s.side, ok: problem === "", problem: problem || undefined, load1: load,
    first: { seconds: first.r.seconds, sshPerHost: perHost(first.ssh), sshTotal: sum(first.ssh), phases: phasesOf(s.side, first.r), clientCpu: first.r.cpuSeconds, hostCpuPerHost: first.hostCpu / n },
    second: { seconds: second.r.seconds, sshPerHost: perHost(second.ssh), sshTotal: sum(second.ssh), clientCpu: second.r.cpuSeconds, hostCpuPerHost: second.hostCpu / n },
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/**
 * CPU seconds the lab hosts' SSH sessions have used so far (everything run over SSH: sshd's session processes,
 * the shell, the script or Ansible's modules): the reaped-children CPU time of each host's sshd listener.
 */
function hostCpu(hosts: LabHost[]): number {
  let ticks = 0;
  for (const h of hosts) {
    const pid = readFileSync(join(LAB_DIR, "hosts", h.name, "sshd.pid"), "utf8").trim();
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3 (state)
    ticks += Number(fields[13]) + Number(fields[14]); // cutime, cstime
  }
  return ticks / CLK_TCK;
}
/** The median connections per host (and, when hosts differ, the range). */
function perHost(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? String(lo) : `${median(xs)} (${lo}-${hi})`;
}

/** Where a run's time went, from the stamped output lines. */
function phasesOf(side: DeploySide, r: Timed): Record<string, number> | undefined {
  const at = (re: RegExp) => r.lines.find((l) => re.test(l.text))?.t;
  const created = r.lines.filter((l) => /Creation complete after/.test(l.text)).map((l) => {
    const m = l.text.match(/after (?:(\d+)m)?(\d+)s/);
    return m ? Number(m[1] ?? 0) * 60 + Number(m[2]) : NaN;
  }).filter((x) => Number.isFinite(x));
  const perHostCreate = created.length ? median(created) : undefined;
  if (side === "ansible-playbook") return undefined;
  const firstCreate = at(/: Creating\.\.\./);
  const applied = at(/Apply complete!/);
  const out: Record<string, number> = {};
  if (side === "cdktf deploy (ours)") {
    const init = at(/Initializing the backend/);
    if (init !== undefined) out["cli + synth"] = init;
    if (init !== undefined && firstCreate !== undefined) out["init + plan"] = firstCreate - init;
  } else if (firstCreate !== undefined) out["plan"] = firstCreate;
  if (firstCreate !== undefined && applied !== undefined) out["apply"] = applied - firstCreate;
  if (applied !== undefined) out["after apply"] = r.seconds - applied;
  if (perHostCreate !== undefined) out["per host (median)"] = perHostCreate;
  return out;
}

// ------------------------------------------------------------------------------------------------ main

function machine(): BenchResults["machine"] {
  const v = (cmd: string, args: string[], re: RegExp) => (sh(cmd, args, { allowFail: true }).match(re)?.[1] ?? "?").trim();
  const cdktfVersion = JSON.parse(readFileSync(join(ROOT, "node_modules", "cdktf", "package.json"), "utf8")).version;
  return {
    cpu: `${cpus()[0]?.model ?? "?"} x ${cpus().length}`,
    memoryGB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    os: (readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]+)/m)?.[1] ?? "?"),
    node: process.version,
    terraform: v("terraform", ["version"], /Terraform (v[\d.]+)/),
    ansible: v("ansible-playbook", ["--version"], /core ([\d.]+)/),
    openssh: v("ssh", ["-V"], /(OpenSSH_[^\s,]+)/),
    cdktf: cdktfVersion,
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  preflight();
  const work = mkdtempSync(join(tmpdir(), "lbp-bench-"));
  log(`work dir ${work}${o.quick ? " (quick)" : ""}`);
  const started = new Date();
  const results: BenchResults = {
    date: started.toISOString(), quick: o.quick, command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "),
    commit: sh("git", ["rev-parse", "--short", "HEAD"], { allowFail: true }).trim() +
      (sh("git", ["status", "--porcelain", "--", "lib", "main.ts", "cdktf.json"], { allowFail: true }).trim() ? " + uncommitted changes in lib/" : ""),
    machine: machine(), parallelism: PARALLELISM, rounds: o.rounds, loadBefore: loadavg()[0], loadAfter: 0, minutes: 0,
    synth: [], cliSynth: [], plan: [], deploy: [],
  };
  let keepWork = o.keep;
  try {
    if (o.only !== "deploy") await benchSynth(o, work, results);
    if (o.only !== "synth") await benchDeploy(o, work, results);
  } catch (e) {
    keepWork = true;
    throw e;
  } finally {
    keepWork ||= results.deploy.some((d) => !d.ok);
    if (keepWork) log(`the work dir stays for inspection: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  results.loadAfter = loadavg()[0];
  results.minutes = (Date.now() - started.getTime()) / 60000;
  console.log(renderTable(results));
  if (o.write) {
    writeFileSync(join(BENCH, "results.json"), JSON.stringify(results, null, 1) + "\n");
    writeFileSync(join(ROOT, "docs", "benchmarks.svg"), renderChart(results));
    const doc = join(ROOT, "docs", "BENCHMARKS.md");
    const start = "<!-- bench:results:start -->";
    const end = "<!-- bench:results:end -->";
    const text = existsSync(doc) ? readFileSync(doc, "utf8") : `# Benchmarks\n\n${start}\n${end}\n`;
    if (!text.includes(start) || !text.includes(end)) die(`${doc} lacks the ${start} / ${end} markers`);
    writeFileSync(doc, text.slice(0, text.indexOf(start) + start.length) + "\n" + renderMarkdown(results) + text.slice(text.indexOf(end)));
    log("wrote docs/BENCHMARKS.md (results section), docs/benchmarks.svg, bench/results.json");
  }
  const failed = results.deploy.filter((d) => !d.ok);
  if (failed.length) {
    console.error(`bench: ${failed.length} deploy run(s) did not do the job:\n${failed.map((f) => `  ${f.hosts} hosts, ${f.side}, round ${f.round}: ${f.problem}`).join("\n")}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? e.stack ?? e.message : e}`);
  process.exit(1);
});
