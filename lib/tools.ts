/**
 * cdktf-loopback-policy/tools: the operator tools over synthesized stacks (TypeScript and JavaScript only):
 * `review` (what each host gets, what changed) and `check` (what each host has now), and the reader of
 * `cdktf.out` they share. The CLIs `loopback-review` and `loopback-check` are thin wrappers over these.
 */
export { SynthOutputError, SynthOutputProblem } from "./contract/errors";
export { readSynthOut, SynthOut, SynthStack } from "./contract/read-out";
export { SynthPolicy, SummaryGroup } from "./contract/policies";
export { review, Review, ReviewOptions, StackReview, Baseline } from "./review/review";
export { checkHosts, checkHost, checkTargets, CheckOptions, CheckTarget, HostCheck, TargetFilter } from "./check/check";
export { CHECK_EXIT, checkExitCode } from "./check/exit-code";
export { HostStatus, HostOutcome, Drift } from "./check/outcome";
