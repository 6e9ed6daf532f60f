import { readFileSync } from "fs";
import { join } from "path";
import { E2eStack } from "../support/e2e";
import { LabFleet } from "../support/lab";
import { requireNetnsTools } from "../support/netns";

/**
 * Host key pinning against a stock sshd (the lab's: rsa, ecdsa and ed25519 host keys), with the real cdktf CLI
 * and Terraform. Terraform's SSH client negotiates ECDSA there, and writes the one `host_key` into a known_hosts
 * file: a pin of the ed25519 key alone (what the lab's fleet file used to hold) fails with "knownhosts: key
 * mismatch"; the host's keys as the lab writes them (all of them) pin the ECDSA key, and the deploy passes.
 * Uses the lab of the LBP_LAB_ID in the environment, as deploy.test.ts does.
 */
jest.setTimeout(10 * 60_000);

const e2e = new E2eStack("e2e-hostkeys");
let fleet: LabFleet;

beforeAll(() => {
  requireNetnsTools();
  e2e.removeState();
  fleet = e2e.lab.up(1);
});

afterAll(() => e2e.tearDown());

const deployWith = (hostKey: string | string[]) => {
  const [host] = fleet.hosts;
  e2e.writeFleet({ ...fleet, rollbackSeconds: 10, connection: { ...fleet.connection, timeoutSeconds: 20 }, hosts: [{ ...host, hostKey }] });
  return e2e.cdktf("deploy");
};

test("the lab's sshd offers rsa, ecdsa and ed25519 host keys, and its fleet file lists all three", () => {
  expect(fleet.hosts[0].hostKey.map((k) => k.split(" ")[0])).toEqual(["ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"]);
  const config = readFileSync(join(e2e.lab.stateDir, "hosts", "lab-1", "sshd_config"), "utf8");
  expect(config.match(/^HostKey .*$/gm)).toHaveLength(3);
});

test("GIVEN only the ed25519 key pinned (a list of one: validation takes it as complete) THEN Terraform fails: knownhosts: key mismatch", () => {
  const ed25519 = fleet.hosts[0].hostKey.find((k) => k.startsWith("ssh-ed25519 "))!;
  const run = deployWith([ed25519]);
  expect(run.status).not.toBe(0);
  expect(run.output).toMatch(/knownhosts: key mismatch/);
});

test("GIVEN the host's keys as the lab writes them (all of them) THEN the ECDSA key is pinned and the deploy passes", () => {
  const run = deployWith(fleet.hosts[0].hostKey);
  expect([run.status, run.output]).toEqual([0, expect.stringMatching(/confirmed over a new SSH connection/)]);
  expect(run.output).not.toMatch(/key mismatch/);
  const entry = JSON.parse(readFileSync(join(e2e.out, "stacks", "e2e-hostkeys", "cdk.tf.json"), "utf8")).locals.loopback_hosts["lab-1"];
  expect(entry.host_key).toMatch(/^ecdsa-sha2-nistp256 /);
});

test("GIVEN ssh-keyscan output pasted as one string THEN the deploy passes too (nothing to change)", () => {
  const scan = fleet.hosts[0].hostKey.map((k) => `${fleet.hosts[0].address} ${k}`).join("\n");
  const run = deployWith(`# ${fleet.hosts[0].address}:22 SSH-2.0-OpenSSH\n${scan}\n`);
  expect(run.status).toBe(0);
  expect(run.output).not.toMatch(/key mismatch/);
});
