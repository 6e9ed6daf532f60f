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
export function checkScript(policy: SynthPolicy, host: string): string {
  const entry = policy.entries[host];
  if (entry === undefined) throw new Error(`${policy.stack}/${policy.id} has no host ${host}`);
  const engine = policy.engine ?? engineScript();
  if (!CHECK_DISPATCH.test(engine)) {
    throw new SynthOutputError("invalid", policy.file, `the engine of LoopbackPolicy "${policy.id}" has no check mode`, "synthesize again with this version of cdktf-loopback-policy (npm run synth) and deploy");
  }
  const facts = hostFactsLine({ mode: "check", host, generation: entry.generation, sudo: entry.sudo });
  return ["#!/bin/sh", facts, policy.scripts[entry.policy], engine, ""].join("\n");
}
