/** A command line the CLI cannot run: an unknown option, a missing or bad value. */
export class UsageError extends Error {
  /** The option in question, as typed: `--format`. */
  public readonly option: string;
  /** What would make the command line valid. */
  public readonly fix: string;

  constructor(option: string, problem: string, fix: string) {
    super(`${option}: ${problem}. Fix: ${fix}`);
    this.name = "UsageError";
    this.option = option;
    this.fix = fix;
    Object.setPrototypeOf(this, UsageError.prototype);
  }
}
