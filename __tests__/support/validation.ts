import { FleetSpec, LoopbackPolicyError } from "../../lib/core";

/** The host most unit tests start from. */
export const host = { name: "web-1", address: "192.0.2.10" };

/** A fleet of that host with `h` merged into it and `extra` fleet-wide props (loosely typed: bad input on purpose). */
export const fleet = (extra: Record<string, unknown> = {}, h: Record<string, unknown> = {}): FleetSpec =>
  ({ hosts: [{ ...host, ...h }], ...extra }) as unknown as FleetSpec;

/** The LoopbackPolicyError `fn` throws; fails the test when it throws nothing or something else. */
export function errorOf(fn: () => unknown): LoopbackPolicyError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LoopbackPolicyError);
    return e as LoopbackPolicyError;
  }
  throw new Error("expected a LoopbackPolicyError, nothing was thrown");
}
