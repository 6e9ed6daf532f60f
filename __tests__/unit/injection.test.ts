import { spawnSync } from "child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as fc from "fast-check";
import { LoopbackPolicyError, LoopbackPolicyProps } from "../../lib/core";
import { STRING_FIELDS, baseProps, hostile, scriptAsHostSeesIt, templateSequences } from "../support/hostile";
import { synth } from "../support/synth";

/**
 * Property: whatever string a user puts in any string field, either validation refuses it with a
 * LoopbackPolicyError, or it reaches Terraform as plain text (no template sequence of its own) and the host
 * shell as plain data (no command runs). Checked by really running the rendered preamble in sh.
 */

const BASELINE = new Set(templateSequences(synth(baseProps()).text));

function runPreamble(script: string): { dir: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "lbp-inject-"));
  const file = join(dir, "preamble.sh");
  writeFileSync(file, `${script}\nlbp_rule() { :; }\nlbp_rules\nprintf 'HOST=%s' "$LBP_HOST"\n`);
  const r = spawnSync("/bin/sh", [file], { cwd: dir, encoding: "utf8", timeout: 10_000 });
  return { dir, out: r.stdout };
}

describe.each(STRING_FIELDS)("random strings in %s", (_field, set) => {
  test("are refused, or stay plain text for Terraform and for the host shell", () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const props = baseProps();
        set(props, value);
        let result;
        try {
          result = synth(props as LoopbackPolicyProps);
        } catch (e) {
          if (e instanceof LoopbackPolicyError) return;
          throw e;
        }
        for (const seq of templateSequences(result.text)) expect(BASELINE.has(seq)).toBe(true);
        const { script, host } = scriptAsHostSeesIt(result.json, false);
        const { dir, out } = runPreamble(script);
        try {
          expect(readdirSync(dir)).toEqual(["preamble.sh"]);
          expect(out).toBe(`HOST=${host}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("the harness itself", () => {
  test("GIVEN a preamble that does interpolate a payload THEN the canary appears (the property can fail)", () => {
    const { dir } = runPreamble("#!/bin/sh\nLBP_HOST=$(touch CANARY; echo x)");
    try {
      expect(readdirSync(dir).sort()).toEqual(["CANARY", "preamble.sh"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("GIVEN valid values with quotes-adjacent characters THEN they reach the shell intact", () => {
    const props = baseProps();
    props.hosts[0].name = "web_1.a-b";
    props.persistence = { v4Path: "/etc/fw-rules/v4_1.rules" };
    const { script, host } = scriptAsHostSeesIt(synth(props).json, false);
    const { dir, out } = runPreamble(script);
    rmSync(dir, { recursive: true, force: true });
    expect(out).toBe(`HOST=${host}`);
    expect(script).toContain("LBP_PERSIST_V4='/etc/fw-rules/v4_1.rules'");
  });
});
