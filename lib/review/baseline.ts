import { createHash } from "crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import { dirname, join, resolve } from "path";
import { ReviewStack } from "./model";

/** A synth of one stack as review recorded it. */
export interface RecordedSynth {
  /** SHA-256 (16 hex digits) of the review model: equal synths, equal fingerprints. */
  readonly fingerprint: string;
  /** When review first saw this synth (ISO 8601). */
  readonly recordedAt: string;
  readonly model: ReviewStack;
}

/** The state file of one stack: the last synth review saw, and the one before it. */
export interface StackRecord {
  readonly version: 1;
  readonly current: RecordedSynth;
  readonly previous: RecordedSynth | null;
}

/** The directory review keeps its state in when not told: `.loopback-review/` next to the cdktf.out it reads. */
export function defaultStateDir(outDir: string): string {
  return join(dirname(resolve(outDir)), ".loopback-review");
}

/** Fingerprint of a review model. */
export function fingerprint(model: ReviewStack): string {
  return createHash("sha256").update(JSON.stringify(model)).digest("hex").slice(0, 16);
}

/**
 * Decide what a synth is compared with, and what to record.
 *
 * The state remembers the last two distinct synths. Reviewing the synth recorded last again compares it with
 * the one before (so a second review prints the same changes); a new synth becomes the last one, and the one
 * it replaces is what it is compared with.
 */
export function nextRecord(record: StackRecord | null, model: ReviewStack, now: Date): { baseline: RecordedSynth | null; record: StackRecord } {
  const seen: RecordedSynth = { fingerprint: fingerprint(model), recordedAt: now.toISOString(), model };
  if (record === null) return { baseline: null, record: { version: 1, current: seen, previous: null } };
  if (record.current.fingerprint === seen.fingerprint) return { baseline: record.previous, record };
  return { baseline: record.current, record: { version: 1, current: seen, previous: record.current } };
}

/** Path of a stack's state file. */
export function recordPath(stateDir: string, stack: string): string {
  return join(stateDir, `${stack}.json`);
}

/** Read a stack's state file; `null` when there is none or it is not one this version wrote. */
export function loadRecord(stateDir: string, stack: string): StackRecord | null {
  const file = recordPath(stateDir, stack);
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as StackRecord;
    return parsed?.version === 1 && typeof parsed.current?.fingerprint === "string" ? parsed : null;
  } catch {
    return null;
  }
}

/** Write a stack's state file atomically (write, then rename). */
export function saveRecord(stateDir: string, stack: string, record: StackRecord): void {
  mkdirSync(stateDir, { recursive: true });
  const file = recordPath(stateDir, stack);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}
