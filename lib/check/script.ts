import { HostEntry } from "../constructs/host-entries";
import { SynthOutputError } from "../contract/errors";
import { SynthPolicy } from "../contract/policies";
import { engineScript } from "../render/engine";
import { hostFactsLine } from "../render/host-script";

/** The engine line that dispatches check mode; an engine without it cannot check. */
const CHECK_DISPATCH = /^\s*check\) lbp_check ;;$/m;

/**
 * The script a check runs on a host: what Terraform's `remote-exec` would write from the synthesized inline
 * (`#!/bin/sh`, the host facts in `check` mode, the host's policy script, the engine, joined by newlines with a
 * final newline), with the facts taken from the host's entry. The engine is the one the provisioners carry, so
 * the host is checked with what was deployed; the library's own engine only when the JSON does not hold one.
 */
export function checkScript(policy: SynthPolicy, host: string, applied?: HostEntry): string {
  const entry = applied ?? policy.entries[host];
  if (entry === undefined) throw new Error(`${policy.stack}/${policy.id} has no host ${host}`);
  const engine = policy.engine ?? engineScript();
  if (!CHECK_DISPATCH.test(engine)) {
    throw new SynthOutputError("invalid", policy.file, `the engine of LoopbackPolicy "${policy.id}" has no check mode`, "synthesize again with this version of cdktf-loopback-policy (npm run synth) and deploy");
  }
  const facts = hostFactsLine({ mode: "check", host, generation: entry.generation, sudo: entry.sudo });
  const script = policy.scripts[entry.policy];
  if (script === undefined) {
    throw new SynthOutputError("invalid", policy.file, `host "${host}" was applied with policy ${entry.policy}, which this synth of LoopbackPolicy "${policy.id}" does not hold`, "check against the synth that was deployed, or deploy this one first");
  }
  return ["#!/bin/sh", facts, script, engine, ""].join("\n");
}
