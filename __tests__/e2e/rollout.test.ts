import { E2eStack } from "../support/e2e";
import { LabFleet, LabHost } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * Canary waves for real: a canary that fails verification stops the rollout there; the later waves are not
 * touched (no SSH connection, no rule). Fixed, the next deploy runs the waves in order. Fails, never skips.
 */
jest.setTimeout(10 * 60_000);

const e2e = new E2eStack("e2erollout");
const lab = e2e.lab;
let fleet: LabFleet;
let h: Record<string, LabHost>;

const managed = (x: LabHost) => lab.sh(x, "iptables-save -t filter").split("\n").filter((l) => l.includes('"lbp:'));

const deploy = () => e2e.cdktf("deploy");

beforeAll(() => {
  requireNetnsTools();
  e2e.removeState();
  fleet = lab.up(4);
  h = Object.fromEntries(fleet.hosts.map((x) => [x.name, x]));
  e2e.writeFleet({ ...fleet, rollout: { canary: ["lab-1"], batchSize: 2 } });
});

afterAll(() => e2e.tearDown());

test("GIVEN a canary that fails verification THEN the rollout stops there: later waves get no SSH connection and no rule", () => {
  lab.sh(h["lab-1"], "iptables -t raw -A OUTPUT -o lo -p tcp -j DROP");
  const before = Object.fromEntries(fleet.hosts.map((x) => [x.name, lab.sshAccepted(x)]));
  const r = deploy();
  expect(r.status).not.toBe(0);
  expect(r.output).toMatch(/loopback-policy\[lab-1\] FAILED: ipv4: verification failed: a TCP connection over 127\.0\.0\.1 failed/);
  expect(r.output).toMatch(/terraform_data\.loopback_canary\["lab-1"\]/);
  for (const n of ["lab-2", "lab-3", "lab-4"]) {
    expect([n, lab.sshAccepted(h[n]) - before[n], managed(h[n])]).toEqual([n, 0, []]);
    expect(r.output).not.toContain(`loopback-policy[${n}]`);
  }
  expect(managed(h["lab-1"])).toEqual([]);
});

test("GIVEN the canary fixed THEN the next deploy runs canary, then fleet-1, then fleet-2, each after the one before completed", () => {
  lab.sh(h["lab-1"], "iptables -t raw -F OUTPUT");
  const r = deploy();
  expect(r.status).toBe(0);
  const first = (s: string) => r.output.indexOf(s);
  const last = (s: string) => r.output.lastIndexOf(s);
  for (const x of fleet.hosts) expect(r.output).toContain(`loopback-policy[${x.name}] confirmed over a new SSH connection`);
  expect(last("loopback-policy[lab-1]")).toBeLessThan(first("loopback-policy[lab-2]"));
  expect(last("loopback-policy[lab-1]")).toBeLessThan(first("loopback-policy[lab-3]"));
  expect(Math.max(last("loopback-policy[lab-2]"), last("loopback-policy[lab-3]"))).toBeLessThan(first("loopback-policy[lab-4]"));
  for (const x of fleet.hosts) expect(managed(x)).toHaveLength(3);
});
