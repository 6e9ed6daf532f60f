/**
 * cdktf-loopback-policy/core: the pure layers under the construct (TypeScript and JavaScript only): validation
 * into the policy model, the rule planner, the host-script renderer. No cdktf, no I/O beyond reading the engine.
 */
export * from "./index";
export { PortProtocol } from "./policy/port";
export { PersistenceInput, PersistenceMode } from "./policy/persistence";
export * from "./policy/options";
export * from "./policy/model";
export { validateFleet, DEFAULT_POLICY } from "./policy/validate";
export * from "./plan/rules";
export * from "./plan/nftables";
export * from "./plan/firewalld";
export { Wave, planWaves } from "./plan/waves";
export { renderPolicyScript, PolicyScript } from "./render/policy-script";
export { renderHostScript, hostFactsLine, HostFacts, ScriptMode } from "./render/host-script";
export { engineScript } from "./render/engine";
export { PolicyGroup, ResourceType, WaveResource } from "./constructs/loopback-policy";
export { HostEntry } from "./constructs/host-entries";
