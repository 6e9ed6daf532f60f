import { redactQuoted } from "./quote";

/**
 * Raised for every invalid input, before anything is synthesized or written.
 *
 * `field` is a path into the props (`hosts[2].address`, `localOnlyPorts[0]`), `fix` says what to do.
 *
 * TypeScript and JavaScript only (jsii cannot carry a subclass of `Error`): in Python, Java, C# and Go the same
 * message arrives as the runtime's JavaScript error, starting with the field.
 * @jsii ignore
 */
export class LoopbackPolicyError extends Error {
  /** Where the bad value is, as a path into the props: `hosts[1].name`, `persistence.v4Path`. */
  public readonly field: string;
  /** What would make it valid. */
  public readonly fix: string;

  constructor(field: string, problem: string, fix: string) {
    // Messages quote values with quoteValue (./quote.ts); this catches a quoted secret any message still holds.
    problem = redactQuoted(problem);
    fix = redactQuoted(fix);
    super(`${field}: ${problem}. Fix: ${fix}`);
    this.name = "LoopbackPolicyError";
    this.field = field;
    this.fix = fix;
    Object.setPrototypeOf(this, LoopbackPolicyError.prototype);
  }
}
