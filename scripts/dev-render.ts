import { validateFleet } from "../lib/policy/validate";
import { planRules } from "../lib/plan/rules";
import { renderPolicyScript } from "../lib/render/policy-script";
import { renderHostScript } from "../lib/render/host-script";
const fleet = validateFleet({ hosts: [{ name: "h1", address: "10.0.0.1" }], localOnlyPorts: ["tcp/8080", "udp/5353", "tcp/9000-9100"], logDrops: true, allowEstablished: true });
const p = renderPolicyScript(fleet.hosts[0].policy, planRules(fleet.hosts[0].policy));
process.stdout.write(renderHostScript({ mode: (process.argv[2] as any) ?? "apply", host: "h1", generation: "0badc0de", sudo: "0" }, p.text));
