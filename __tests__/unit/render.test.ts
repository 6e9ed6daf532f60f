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
  ["manage (ufw rules)", { otherFirewall: "manage", antiSpoofing: "reject", localOnlyPorts: ["tcp/80", "udp/53", "tcp/1000-2000"], logDrops: true, allowEstablished: true }],
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

describe("engine assembly (engine.sh plus its firewall backends)", () => {
  const { mkdtempSync, writeFileSync } = require("fs") as typeof import("fs");
  const { tmpdir } = require("os") as typeof import("os");
  const { join } = require("path") as typeof import("path");
  const { assemble, BACKENDS_MARKER } = require("../../lib/render/engine") as typeof import("../../lib/render/engine");

  test("backends are spliced at the marker line, in name order; other .sh files are not", () => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-engine-"));
    writeFileSync(join(dir, "engine.sh"), `head\n${BACKENDS_MARKER}\ntail\n`);
    writeFileSync(join(dir, "engine-ufw.sh"), "ufw\n");
    writeFileSync(join(dir, "engine-nft.sh"), "nft\n");
    writeFileSync(join(dir, "lab.sh"), "not a backend\n");
    expect(assemble(dir)).toBe("head\nnft\nufw\ntail\n");
  });

  test("an engine.sh without the marker is refused, not silently assembled without its backends", () => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-engine-"));
    writeFileSync(join(dir, "engine.sh"), "head\ntail\n");
    expect(() => assemble(dir)).toThrow(/has no line "# @backends/);
  });
});
