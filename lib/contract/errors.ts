/** What is wrong with a synthesized output directory. */
export type SynthOutputProblem = "missing" | "foreign" | "invalid";

/**
 * Raised when a cdktf output directory cannot be read as LoopbackPolicy stacks: it does not exist (`missing`),
 * holds no LoopbackPolicy (`foreign`), or holds one whose JSON is not what this version synthesizes (`invalid`).
 */
export class SynthOutputError extends Error {
  /** Which of the three. */
  public readonly problem: SynthOutputProblem;
  /** The directory or file in question. */
  public readonly path: string;
  /** What would make it readable. */
  public readonly fix: string;

  constructor(problem: SynthOutputProblem, path: string, detail: string, fix: string) {
    super(`${path}: ${detail}. Fix: ${fix}`);
    this.name = "SynthOutputError";
    this.problem = problem;
    this.path = path;
    this.fix = fix;
    Object.setPrototypeOf(this, SynthOutputError.prototype);
  }
}
