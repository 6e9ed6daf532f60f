import { ChildProcess, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "fs";
import { createServer } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * Sharded stacks with shared, locked state: a fleet file with `sharding: { maxHostsPerStack: 2 }` and the pg
 * backend, deployed with `cdktf deploy '*' --parallelism 2` against a real PostgreSQL server (run here as the
 * `postgres` user on 127.0.0.1 only, password auth over TCP; the password reaches Terraform only through
 * PG_CONN_STR). Then Terraform's own lock at work: two applies of one stack at once are serialised by the backend.
 * Runs its own lab (LBP_LAB_ID=4) and stacks (e2estate-*), so other e2e suites can run at the same
 * time. Fails, never skips, when it cannot run. LBP_KEEP_WORK=1 keeps its work directory (CLI logs, cdktf.out).
 */
jest.setTimeout(5 * 60_000);

const ROOT = join(__dirname, "..", "..");
const STACK = "e2estate";
const STACKS = [`${STACK}-1`, `${STACK}-2`];
const SCHEMAS = STACKS.map((s) => `loopback_${s.replace(/-/g, "_")}`);
const DB = "lbp_state";
const e2e = new E2eStack(STACK, "4");
const { lab, work, out } = e2e;
const password = randomBytes(16).toString("hex");
const stackDir = (s: string) => join(out, "stacks", s);
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

let fleet: LabFleet;
let h: Record<string, LabHost>;
const children: ChildProcess[] = [];

// ---------------------------------------------------------------- PostgreSQL, as the postgres user

const pg = { bin: "", dir: "", data: "", sock: "", port: 0, started: false, connStr: "" };

function pgBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))) : [];
  if (versions.length === 0) throw new Error("PostgreSQL server binaries (initdb, pg_ctl) are missing: apt-get install postgresql (.ci/run installs it)");
  return join(base, versions.sort((a, b) => Number(b) - Number(a))[0], "bin");
}

/** Run a PostgreSQL program as the postgres user; throws with its output on failure. */
function asPostgres(program: string, args: string[]): string {
  const r = spawnSync("runuser", ["-u", "postgres", "--", join(pg.bin, program), ...args], { encoding: "utf8", timeout: 60_000, cwd: pg.dir });
  if (r.status !== 0) throw new Error(`${program} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** psql over the server's Unix socket (trust for local connections); -At output. */
function psql(sql: string, db = DB): string {
  return asPostgres("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", "-h", pg.sock, "-p", String(pg.port), "-U", "postgres", "-d", db, "-c", sql]);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startPostgres(): Promise<void> {
  if (spawnSync("id", ["-u", "postgres"]).status !== 0) throw new Error("there is no postgres system user: apt-get install postgresql (.ci/run installs it)");
  pg.bin = pgBinDir();
  pg.dir = mkdtempSync(join(tmpdir(), "lbp-pg-"));
  pg.data = join(pg.dir, "data");
  pg.sock = join(pg.dir, "sock");
  mkdirSync(pg.sock);
  const { uid, gid } = { uid: Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout), gid: Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout) };
  writeFileSync(join(pg.dir, "pwfile"), `${password}\n`, { mode: 0o600 });
  for (const p of [pg.dir, pg.sock, join(pg.dir, "pwfile")]) chownSync(p, uid, gid);
  chmodSync(pg.dir, 0o700);
  // Local (socket) connections: trust, for the test's own psql. TCP: a password (SCRAM), which Terraform gets only
  // from PG_CONN_STR.
  asPostgres("initdb", ["-D", pg.data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${join(pg.dir, "pwfile")}`, "-E", "UTF8", "--no-instructions"]);
  for (let attempt = 0; ; attempt++) {
    pg.port = await freePort();
    try {
      asPostgres("pg_ctl", ["-D", pg.data, "-l", join(pg.dir, "server.log"), "-w", "-t", "30", "-o", `-c listen_addresses=127.0.0.1 -p ${pg.port} -k ${pg.sock}`, "start"]);
      break;
    } catch (e) {
      if (attempt >= 2) throw new Error(`${(e as Error).message}\n${readFileSync(join(pg.dir, "server.log"), "utf8")}`);
    }
  }
  pg.started = true;
  psql(`CREATE DATABASE ${DB}`, "postgres");
  // Bootstrapping a state database (docs/SCALE.md): Terraform's pg backend creates this sequence on `init` with
  // CREATE SEQUENCE IF NOT EXISTS, which races when several stacks init at once against a fresh database.
  psql("CREATE SEQUENCE public.global_states_id_seq AS bigint");
  pg.connStr = `postgres://postgres:${password}@127.0.0.1:${pg.port}/${DB}?sslmode=disable`;
}

function stopPostgres(): void {
  if (!pg.started) return;
  try {
    psql(SCHEMAS.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join(" "));
  } finally {
    asPostgres("pg_ctl", ["-D", pg.data, "-m", "fast", "-w", "stop"]);
    pg.started = false;
  }
}

/** The resource instances in a stack's state, as stored in PostgreSQL (one row: the default workspace). */
function hostsInPgState(schema: string): string[] {
  expect(psql(`SELECT name FROM ${schema}.states`).trim()).toBe("default");
  const state = JSON.parse(psql(`SELECT data FROM ${schema}.states WHERE name = 'default'`));
  return state.resources.flatMap((r: any) => r.instances.map((i: any) => `${r.type}.${r.name}[${JSON.stringify(i.index_key)}]`)).sort();
}

// ---------------------------------------------------------------- the fleet and the CLIs

function writeFleet(extra: object = {}): void {
  e2e.writeFleet({
    ...fleet, sharding: { maxHostsPerStack: 2 }, backend: { type: "pg" },
    // A rollback window long enough for a machine loaded by other suites: the confirming connection must come in time.
    rollbackSeconds: 60, lockWaitSeconds: 90, connection: { ...fleet.connection, timeoutSeconds: 90 }, ...extra,
  });
}

/** What Terraform gets in these tests: the connection string only here, never in a file. */
const tfVars = () => ({ PG_CONN_STR: pg.connStr, CI: "true", CHECKPOINT_DISABLE: "1" });
const tfEnv = (more: Record<string, string> = {}) => ({ ...process.env, ...tfVars(), ...more });

/**
 * `npm run deploy -- '*' --auto-approve --parallelism 2`. TF_CLI_ARGS_apply gives every `terraform apply` that
 * cdktf runs a lock timeout: a stack whose state does not exist yet holds the pg backend's database-wide
 * creation lock for its whole first apply, so without one the other new stacks fail at once (docs/SCALE.md).
 */
const deployAll = () => e2e.cdktf("deploy", ["*", "--parallelism", "2"], { ...tfVars(), TF_CLI_ARGS_apply: "-lock-timeout=120s" });

/** A background `terraform <args>` in a synthesized stack's directory, its output collected as it comes. */
function terraformBg(stack: string, args: string[]): { proc: ChildProcess; output: () => string; done: Promise<number> } {
  let text = "";
  const proc = spawn("terraform", [...args, "-no-color", "-input=false"], { cwd: stackDir(stack), env: tfEnv() });
  children.push(proc);
  proc.stdout!.on("data", (d) => (text += d));
  proc.stderr!.on("data", (d) => (text += d));
  const done = new Promise<number>((resolve) => proc.on("close", (code) => resolve(code ?? -1)));
  return { proc, output: () => text, done };
}

async function waitFor(what: string, ok: () => boolean, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Hold a lab host's loopback-policy run lock (/run/loopback-policy/lock, on the tmpfs its sshd sees): a run of the
 * host script waits for it (up to lockWaitSeconds), so the Terraform apply carrying that run stays in progress,
 * holding its state lock, until `release()`.
 */
async function holdHostLock(x: LabHost): Promise<{ release: () => Promise<void> }> {
  const sshdPid = readFileSync(join(lab.stateDir, "hosts", x.name, "sshd.pid"), "utf8").trim();
  const holder = spawn("nsenter", ["-t", sshdPid, "-m", "-n", "flock", "/run/loopback-policy/lock", "-c", "echo held; exec sleep 120"], { detached: true });
  children.push(holder);
  let said = "";
  holder.stdout!.on("data", (d) => (said += d));
  holder.stderr!.on("data", (d) => (said += d));
  const closed = new Promise<void>((resolve) => holder.on("close", () => resolve()));
  await waitFor(`the run lock of ${x.name} (${said})`, () => said.includes("held"), 10);
  return {
    release: async () => {
      process.kill(-holder.pid!, "SIGTERM");
      await closed;
    },
  };
}

const managedIds = (x: LabHost, tool: string) =>
  lab.sh(x, `${tool}-save -t filter`).split("\n").filter((l) => l.includes('"lbp:')).map((l) => l.match(/lbp:([0-9a-f]{8}):([\w-]+)/)!.slice(1).join(":"));
const generationOf = (x: LabHost) => lab.sh(x, "iptables-save -t filter").match(/lbp:([0-9a-f]{8}):lo-in/)?.[1];
const advisoryLocks = () => Number(psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").trim());
const localStateFiles = () => [
  ...STACKS.flatMap((s) => [`terraform.${s}.tfstate`, `terraform.${s}.tfstate.backup`].map((f) => join(ROOT, f))),
  ...STACKS.flatMap((s) => ["terraform.tfstate", "terraform.tfstate.backup"].map((f) => join(stackDir(s), f))),
].filter((f) => existsSync(f));

beforeAll(async () => {
  requireNetnsTools();
  for (const [tool, pkg] of [["sshd", "openssh-server"], ["terraform", "terraform (preinstalled)"], ["nsenter", "util-linux"], ["flock", "util-linux"], ["runuser", "util-linux"]]) {
    if (spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) throw new Error(`${tool} is missing: ${pkg}`);
  }
  await startPostgres();
  fleet = lab.up(4);
  h = Object.fromEntries(fleet.hosts.map((x) => [x.name, x]));
  writeFleet();
});

afterAll(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.spawnargs[0] === "nsenter" ? -c.pid! : c.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  try {
    e2e.tearDown();
  } finally {
    try {
      stopPostgres();
    } finally {
      for (const f of localStateFiles()) rmSync(f, { force: true });
      if (pg.dir) rmSync(pg.dir, { recursive: true, force: true });
    }
  }
});

test("cdktf deploy '*' --parallelism 2: two stacks of two hosts each, every host converged", () => {
  const r = deployAll();
  expect(r.status).toBe(0);
  for (const x of fleet.hosts) {
    expect(r.output).toContain(`loopback-policy[${x.name}] result: changed`);
    expect(r.output).toContain(`loopback-policy[${x.name}] confirmed over a new SSH connection`);
    for (const tool of ["iptables", "ip6tables"]) {
      expect([x.name, tool, managedIds(x, tool).map((id) => id.split(":")[1])]).toEqual([x.name, tool, ["lo-in", "spoof", "lo-out"]]);
    }
  }
  expect(readdirSync(join(out, "stacks")).sort()).toEqual(STACKS);
});

test("each stack's state is in its own PostgreSQL schema, with its own hosts; no local state file was written", () => {
  expect(hostsInPgState(SCHEMAS[0])).toEqual(['terraform_data.loopback["lab-1"]', 'terraform_data.loopback["lab-2"]']);
  expect(hostsInPgState(SCHEMAS[1])).toEqual(['terraform_data.loopback["lab-3"]', 'terraform_data.loopback["lab-4"]']);
  expect(localStateFiles()).toEqual([]);
  for (const s of STACKS) {
    const json = JSON.parse(readFileSync(join(stackDir(s), "cdk.tf.json"), "utf8"));
    expect(json.terraform.backend).toEqual({ pg: { schema_name: `loopback_${s.replace(/-/g, "_")}` } });
  }
});

test("the connection string (and its password) is nowhere in cdktf.out: not in the JSON, not in .terraform", () => {
  const leaks: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        if (name !== "providers") walk(p);
      } else if (st.size < 50_000_000 && readFileSync(p).includes(password)) {
        leaks.push(p);
      }
    }
  };
  walk(out);
  expect(leaks).toEqual([]);
  // What `terraform init` remembers of the backend: the schema, and no conn_str.
  const backend = JSON.parse(readFileSync(join(stackDir(STACKS[0]), ".terraform", "terraform.tfstate"), "utf8")).backend;
  expect(backend.type).toBe("pg");
  expect(backend.config.schema_name).toBe(SCHEMAS[0]);
  expect(backend.config.conn_str ?? null).toBeNull();
});

test("the stacks apply at the same time, each under its own lock", async () => {
  // A fleet-wide change re-runs every host. lab-1 (stack 1) and lab-3 (stack 2) wait on their run locks, so each
  // stack's apply stays in progress; their other hosts converging meanwhile shows both applies running at once.
  const before = { "lab-2": generationOf(h["lab-2"]), "lab-4": generationOf(h["lab-4"]) };
  const locks = [await holdHostLock(h["lab-1"]), await holdHostLock(h["lab-3"])];
  writeFleet({ rollbackSeconds: 61 });
  const deploy = new Promise<{ status: number; output: string }>((resolve) => {
    const p = spawn("npm", ["run", "--silent", "deploy", "--", "*", "--auto-approve", "--parallelism", "2", "--output", out], {
      cwd: ROOT, env: tfEnv({ LOOPBACK_FLEET: e2e.fleetFile, TF_CLI_ARGS_apply: "-lock-timeout=120s" }),
    });
    children.push(p);
    let text = "";
    p.stdout!.on("data", (d) => (text += d));
    p.stderr!.on("data", (d) => (text += d));
    p.on("close", (code) => resolve({ status: code ?? -1, output: strip(text) }));
  });
  try {
    await waitFor("lab-2 and lab-4 to converge while lab-1 and lab-3 wait", () => {
      const changed = (n: "lab-2" | "lab-4") => {
        const g = generationOf(h[n]);
        return g !== undefined && g !== before[n];
      };
      return changed("lab-2") && changed("lab-4");
    }, 120);
    expect(advisoryLocks()).toBe(2); // one state lock per stack, both held
  } finally {
    for (const l of locks) await l.release();
  }
  const r = await deploy;
  writeFileSync(join(work, `deploy-parallel-${Date.now()}.log`), r.output);
  expect(r.status).toBe(0);
  for (const x of fleet.hosts) expect(r.output).toContain(`loopback-policy[${x.name}] confirmed over a new SSH connection`);
});

test("two applies of one stack at once: the backend's lock serialises them; nothing runs twice, no state is lost", async () => {
  const stack = STACKS[0];
  const sshBefore = lab.sshAccepted(h["lab-1"]);
  const hostLock = await holdHostLock(h["lab-1"]);
  // First: a real apply (replacing lab-1 runs its provisioners over SSH), held in progress by lab-1's run lock.
  const first = terraformBg(stack, ["apply", "-auto-approve", '-replace=terraform_data.loopback["lab-1"]']);
  let second: { status: number; output: string };
  let third: ReturnType<typeof terraformBg>;
  try {
    await waitFor("the first apply to reach lab-1", () => first.output().includes('terraform_data.loopback["lab-1"]: Provisioning with \'remote-exec\''), 60);
    // Second, while the first holds the lock: no waiting allowed, so it fails with Terraform's lock error.
    const b = terraformBg(stack, ["apply", "-auto-approve", "-lock-timeout=0s"]);
    second = { status: await b.done, output: b.output() };
    // Third, also during the first: it waits for the lock.
    third = terraformBg(stack, ["apply", "-auto-approve", "-lock-timeout=120s"]);
    await waitFor("the third apply to ask for the lock", () => third.output().includes("Acquiring state lock"), 30);
    await new Promise((r) => setTimeout(r, 2000));
    expect(third.proc.exitCode).toBeNull(); // still waiting
    expect(first.proc.exitCode).toBeNull();
  } finally {
    await hostLock.release();
  }
  const firstStatus = await first.done;
  const thirdStatus = await third!.done;
  writeFileSync(join(work, "lock-applies.log"), [first.output(), second!.output, third!.output()].join("\n=====\n"));

  expect(second!.status).not.toBe(0);
  expect(second!.output).toContain("Error acquiring the state lock");
  expect(second!.output).not.toContain("loopback-policy[");

  expect(firstStatus).toBe(0);
  // The replacement has lab-1's generation, whose rules are in place: it converges nothing, and persists.
  expect(first.output()).toContain("loopback-policy[lab-1] result: unchanged");
  expect(first.output()).toContain("loopback-policy[lab-1] ipv4: persisted");
  expect(first.output()).toMatch(/Apply complete! Resources: 1 added, 0 changed, 1 destroyed\./);

  // The third waited for the first, then found the state it wrote: nothing left to do.
  expect(thirdStatus).toBe(0);
  expect(third!.output()).toContain("No changes.");
  expect(third!.output()).not.toContain("loopback-policy[");

  // Only the first apply connected to lab-1: one SSH connection per provisioner block it ran (apply and confirm
  // of the new instance), none for the second or the third.
  const blocks = (first.output().match(/terraform_data\.loopback\["lab-1"\]: Provisioning with 'remote-exec'/g) ?? []).length;
  expect(blocks).toBeGreaterThanOrEqual(2);
  expect(lab.sshAccepted(h["lab-1"]) - sshBefore).toBe(blocks);

  const list = spawnSync("terraform", ["state", "list"], { cwd: stackDir(stack), env: tfEnv(), encoding: "utf8" });
  expect(list.stdout.trim().split("\n").sort()).toEqual(['terraform_data.loopback["lab-1"]', 'terraform_data.loopback["lab-2"]']);
  expect(hostsInPgState(SCHEMAS[0])).toEqual(['terraform_data.loopback["lab-1"]', 'terraform_data.loopback["lab-2"]']);
  expect(localStateFiles()).toEqual([]);
});
