/**
 * cdktf-loopback-policy: the construct library (the jsii API, usable from every cdktf language).
 *
 * - `LoopbackPolicy` and its props: the fleet, its policy, how it is synthesized.
 * - Value classes for the policy's fields: `LocalPort`, `Persistence`.
 *
 * The pure planner and renderer (TypeScript only) are `cdktf-loopback-policy/core`; the operator tools (review,
 * check, the synthesized-output reader) are `cdktf-loopback-policy/tools`.
 */
export { LoopbackPolicyError } from "./policy/errors";
export { LocalPort } from "./policy/port";
export { Persistence, PersistencePaths } from "./policy/persistence";
export { PolicyOptions, LogOptions } from "./policy/options";
export { FleetSpec, HostSpec, ConnectionSpec, BastionSpec } from "./policy/fleet";
export { RolloutSpec } from "./policy/rollout";
export { LoopbackPolicy, LoopbackPolicyProps } from "./constructs/loopback-policy";
export { HostSetSpec } from "./constructs/host-sets";
