import { spawn, spawnSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { Lab, LabHost } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * The lab is shared by the machine: its namespaces (by LBP_LAB_ID), the lab user, its sudoers file and the /etc
 * mount points. A clean-clone CI run once failed because a second run of the suites on the same machine (another
 * checkout, another state directory) brought up lab 0 while the first run's deploy suite held it: `up` took over
 * the first run's namespaces with their rules ("iptables: Chain already exists" in deploy.test.ts's setup).
 * Now the id's namespaces are owned by one state directory: a second lab of the id refuses (or waits, with
 * LBP_LAB_WAIT), its `down` leaves the first one's hosts alone, and what a lab that is gone left behind is removed,
 * never adopted. Runs lab id 7 (no other suite uses it).
 */
jest.setTimeout(5 * 60_000);

const ID = "7";
const savedId = process.env.LBP_LAB_ID;
const work = mkdtempSync(join(tmpdir(), "lbp-labtest-"));
const labs: Lab[] = [];
const newLab = (name: string) => {
  const l = new Lab(join(work, name));
  labs.push(l);
  return l;
};
const a = newLab("a");
const b = newLab("b");
const c = newLab("c");
const NS = `lbp-lab${ID}-1`;

const inNs = (command: string) => spawnSync("ip", ["netns", "exec", NS, "sh", "-c", command], { encoding: "utf8" });
/** The marker a lab host's rules carry here: a chain only this test makes. */
const marked = () => inNs("iptables -S LBP-LAB-MARK").status === 0;
const sshdPid = (l: Lab) => Number(readFileSync(join(l.stateDir, "hosts", "lab-1", "sshd.pid"), "utf8").trim());
/** A live process (a zombie, not yet reaped by PID 1, is dead). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};
const sshAnswers = (host: LabHost) =>
  spawnSync("timeout", ["3", "bash", "-c", `exec 3<>/dev/tcp/${host.address}/22 && IFS= read -r -t 2 line <&3 && [[ $line == SSH-* ]]`]).status === 0;

beforeAll(() => {
  requireNetnsTools();
  process.env.LBP_LAB_ID = ID;
});

afterAll(() => {
  for (const l of labs) l.run(["down"]);
  if (savedId === undefined) delete process.env.LBP_LAB_ID;
  else process.env.LBP_LAB_ID = savedId;
  rmSync(work, { recursive: true, force: true });
});

test("a second lab of the same id (another state directory) refuses, and its down leaves the first lab's host alone", () => {
  const host = a.up(1).hosts[0];
  inNs("iptables -N LBP-LAB-MARK");
  const pid = sshdPid(a);

  const second = b.run(["up", "1"]);
  expect(second.status).toBe(1);
  expect(second.stderr).toContain(`lab: LBP_LAB_ID=${ID} is in use by the lab in ${a.stateDir} (its sshds are running)`);
  expect(second.stderr).toContain(`Fix: use another LBP_LAB_ID (0-9), take that lab down (LBP_LAB_DIR=${a.stateDir} lab.sh down), or set LBP_LAB_WAIT=SECONDS`);
  expect([alive(pid), sshAnswers(host), marked()]).toEqual([true, true, true]);

  const down = b.run(["down"]);
  expect(down.status).toBe(0);
  expect(down.stdout).toContain(`lab: LBP_LAB_ID=${ID} is held by the lab in ${a.stateDir}, which is up: leaving its hosts alone`);
  expect([alive(pid), sshAnswers(host), marked()]).toEqual([true, true, true]);
  // The lab user's sudoers file is every lab's: the first lab still needs it.
  if (existsSync("/usr/bin/sudo")) expect(existsSync("/etc/sudoers.d/lbp-lab")).toBe(true);
});

test("with LBP_LAB_WAIT the second lab waits for the first to go down, then starts from a fresh namespace", async () => {
  const waiting = spawn("bash", [join(__dirname, "..", "..", "lab", "lab.sh"), "up", "1"], {
    env: { ...process.env, LBP_LAB_DIR: b.stateDir, LBP_LAB_WAIT: "120" },
  });
  let out = "";
  waiting.stdout.on("data", (d) => (out += d));
  waiting.stderr.on("data", (d) => (out += d));
  const done = new Promise<number>((resolve) => waiting.on("close", (code) => resolve(code ?? -1)));
  await new Promise((r) => setTimeout(r, 4000));
  expect(out).toContain(`lab: waiting up to 120s for the lab in ${a.stateDir} (LBP_LAB_ID=${ID}) to go down`);
  expect(marked()).toBe(true);
  a.down();
  expect(await done).toBe(0);
  expect(marked()).toBe(false);
  expect(sshAnswers(b.fleet().hosts[0])).toBe(true);
});

test("what a lab that is gone left behind (its state directory removed, its sshd still running) is removed, not adopted", () => {
  inNs("iptables -N LBP-LAB-MARK");
  const stray = sshdPid(b);
  rmSync(b.stateDir, { recursive: true, force: true });

  const r = c.run(["up", "1"]);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`lab: removing what an earlier lab of LBP_LAB_ID=${ID} left (${b.stateDir}; not up): lab-1 and 0 more`);
  expect([marked(), alive(stray)]).toEqual([false, false]);
  expect(sshAnswers(c.fleet().hosts[0])).toBe(true);
  expect(readFileSync(`/run/lbp-lab-owners/${ID}`, "utf8")).toBe(`${c.stateDir}\n`);
  c.down();
  expect(existsSync(`/run/lbp-lab-owners/${ID}`)).toBe(false);
});
