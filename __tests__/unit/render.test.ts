import { spawnSync } from "child_process";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { PolicyOptions, ScriptMode } from "../../lib/core";
import { hostScript } from "../support/netns";

const POLICIES: Array<[string, PolicyOptions]> = [
  ["defaults", {}],
  ["everything", { ipv6: "required", antiSpoofing: "reject", localOnlyPorts: ["tcp/80", "udp/53", "tcp/1000-2000"], localOnlyAction: "reject", allowEstablished: true, logDrops: { prefix: "fw", perMinute: 2 }, persistence: { v4Path: "/etc/a", v6Path: "/etc/b" }, verify: "icmp", rollbackSeconds: 0 }],
  ["minimal", { ipv6: "off", antiSpoofing: "off", persistence: "none", verify: "off", otherFirewall: "ignore" }],
];
const MODES: ScriptMode[] = ["apply", "confirm", "remove", "check"];

describe("rendered host scripts are POSIX sh", () => {
  beforeAll(() => {
    if (spawnSync("sh", ["-c", "command -v shellcheck"]).status !== 0) throw new Error("shellcheck is missing: apt-get install shellcheck (.ci/run installs it)");
  });

  test.each(POLICIES.flatMap(([name, p]) => MODES.map((m) => [name, m, p] as const)))("%s / %s: shellcheck -s sh is clean and dash parses it", (_name, mode, policy) => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-sc-"));
    const file = join(dir, "host.sh");
    writeFileSync(file, hostScript(mode, policy, "0badc0de"));
    const sc = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", file], { encoding: "utf8" });
    expect(sc.stdout + sc.stderr).toBe("");
    expect(sc.status).toBe(0);
    const dash = spawnSync("/bin/sh", ["-n", file], { encoding: "utf8" });
    expect(dash.stderr).toBe("");
  });
});
