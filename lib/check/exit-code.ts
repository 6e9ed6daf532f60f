import { HostStatus } from "./outcome";

/** Exit codes of `loopback-check`. */
export const CHECK_EXIT = {
  /** Every host is compliant (or skipped by its policy's `otherFirewall: "skip"`). */
  compliant: 0,
  /** The check could not start: bad arguments, no cdktf output, no LoopbackPolicy in it, no ssh client. */
  usage: 2,
  /** Every host was checked and at least one drifted. */
  drifted: 3,
  /** At least one host could not be checked: unreachable, or the check failed on it (drift may also be listed). */
  incomplete: 4,
} as const;

/** The exit code for a set of host results: incomplete over drifted over compliant. */
export function checkExitCode(statuses: readonly HostStatus[]): number {
  if (statuses.some((s) => s === "unreachable" || s === "failed")) return CHECK_EXIT.incomplete;
  if (statuses.includes("drifted")) return CHECK_EXIT.drifted;
  return CHECK_EXIT.compliant;
}
