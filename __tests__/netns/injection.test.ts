import { readdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import * as fc from "fast-check";
import { LoopbackPolicyError, LoopbackPolicyProps } from "../../lib/core";
import { STRING_FIELDS, baseProps, hostile, scriptAsHostSeesIt } from "../support/hostile";
import { NetnsHost, requireNetnsTools } from "../support/netns";
import { synth } from "../support/synth";

/**
 * Property, end to end on a real host: random strings in every string field never inject a command into the host
 * script. Each accepted value is synthesized, the complete script is rebuilt exactly as Terraform hands it to the
 * host, and run (check mode: it reads the real ruleset, changes nothing) in a sandbox namespace, from a directory
 * holding a canary file that must stay untouched and alone.
 */
jest.setTimeout(300_000);

let sandbox: NetnsHost;
let accepted = 0;
beforeAll(() => {
  requireNetnsTools();
  sandbox = new NetnsHost("inject");
});
afterAll(() => sandbox?.destroy());

describe.each(STRING_FIELDS)("random strings in %s", (_field, set) => {
  test("never run a command in the sandbox host", () => {
    let ran = 0;
    fc.assert(
      fc.property(hostile, (value) => {
        const props = baseProps();
        props.persistence ??= { v4Path: "/etc/nonexistent-lbp/v4" }; // check mode writes nothing
        set(props, value);
        let json;
        try {
          json = synth(props as LoopbackPolicyProps).json;
        } catch (e) {
          if (e instanceof LoopbackPolicyError) return;
          throw e;
        }
        ran++;
        accepted++;
        const { script, host } = scriptAsHostSeesIt(json, true, "check");
        const dir = join(sandbox.dir, `run-${ran}-${Math.random().toString(36).slice(2)}`);
        sandbox.sh(`mkdir -p '${dir}'`);
        writeFileSync(join(dir, "canary"), "untouched\n");
        writeFileSync(join(dir, "host.sh"), script);
        const r = sandbox.try(`cd '${dir}' && /bin/sh ./host.sh`, sandbox.env);
        expect(readdirSync(dir).sort()).toEqual(["canary", "host.sh"]);
        expect(readFileSync(join(dir, "canary"), "utf8")).toBe("untouched\n");
        expect([r.status, r.stdout]).toEqual([3, expect.stringContaining(`loopback-policy[${host}] result: drifted`)]);
      }),
      // Always among the runs, whatever the seed (validation rejects nearly every random value, so how many are
      // accepted varied with it): paths with spaces, which key paths accept, and a plain name most fields accept,
      // so the sandbox really executes scripts carrying them.
      { numRuns: 15, examples: [["/etc/x y"], ["a b"], ["web-2"]] },
    );
  });
});

test("the property ran real scripts: some hostile-looking values are valid (key paths, labels) and were executed", () => {
  expect(accepted).toBeGreaterThan(5);
});
