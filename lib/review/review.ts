import { resolve } from "path";
import { readSynthOut } from "../contract/read-out";
import { StackChanges, diffStacks } from "./diff";
import { defaultStateDir, loadRecord, nextRecord, saveRecord } from "./baseline";
import { ReviewStack, reviewStack } from "./model";

/** How {@link review} reads and remembers synths. */
export interface ReviewOptions {
  /** The cdktf output directory to review. */
  readonly dir: string;
  /**
   * Where the previous synth of each stack is remembered.
   * @default `.loopback-review/` next to `dir`
   */
  readonly stateDir?: string;
  /**
   * Compare with the synth in this cdktf output directory instead of the remembered one (for example the base
   * branch's, in CI). Nothing is recorded then.
   * @default the remembered previous synth
   */
  readonly baselineDir?: string;
  /**
   * Remember this synth for the next review.
   * @default true
   */
  readonly record?: boolean;
  /**
   * The time recorded for a synth seen for the first time.
   * @default now
   */
  readonly now?: Date;
}

/** What a stack is compared with. */
export type Baseline =
  | { readonly kind: "recorded"; readonly recordedAt: string }
  | { readonly kind: "dir"; readonly dir: string };

/** The review of one stack. */
export interface StackReview {
  readonly stack: string;
  readonly file: string;
  readonly model: ReviewStack;
  /** `null`: nothing to compare with (the first review of this stack). */
  readonly baseline: Baseline | null;
  /** `null` when there is no baseline. */
  readonly changes: StackChanges | null;
}

/** The review of a cdktf output directory. */
export interface Review {
  readonly dir: string;
  /** `null` when comparing with a baseline directory. */
  readonly stateDir: string | null;
  /** Whether this synth was remembered for the next review. */
  readonly recorded: boolean;
  readonly stacks: readonly StackReview[];
  /** Stacks of the directory without a LoopbackPolicy. */
  readonly foreign: readonly string[];
}

/**
 * Review the LoopbackPolicy stacks of a cdktf output directory: each stack's model, and what changed since the
 * previous synth (remembered in `stateDir`) or since a baseline directory. Throws `SynthOutputError` when a
 * directory is missing or holds no LoopbackPolicy.
 */
export function review(options: ReviewOptions): Review {
  const out = readSynthOut(options.dir);
  if (options.baselineDir !== undefined) {
    const base = readSynthOut(options.baselineDir);
    const stacks = out.stacks.map((s) => {
      const model = reviewStack(s);
      const before = base.stacks.find((b) => b.name === s.name);
      const previous = before ? reviewStack(before) : { stack: s.name, constructs: [] };
      return { stack: s.name, file: s.file, model, baseline: { kind: "dir" as const, dir: options.baselineDir! }, changes: diffStacks(previous, model) };
    });
    return { dir: options.dir, stateDir: null, recorded: false, stacks, foreign: out.foreign };
  }
  const stateDir = resolve(options.stateDir ?? defaultStateDir(options.dir));
  const now = options.now ?? new Date();
  const stacks = out.stacks.map((s) => {
    const model = reviewStack(s);
    const old = loadRecord(stateDir, s.name);
    const { baseline, record } = nextRecord(old, model, now);
    if (options.record !== false && record !== old) saveRecord(stateDir, s.name, record);
    return {
      stack: s.name,
      file: s.file,
      model,
      baseline: baseline ? { kind: "recorded" as const, recordedAt: baseline.recordedAt } : null,
      changes: baseline ? diffStacks(baseline.model, model) : null,
    };
  });
  return { dir: options.dir, stateDir, recorded: options.record !== false, stacks, foreign: out.foreign };
}
