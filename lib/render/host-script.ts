import { engineScript } from "./engine";
import { shellQuote } from "./shell";

/** What a host script run does. See the modes at the top of `engine.sh`. */
export type ScriptMode = "apply" | "confirm" | "remove" | "check";

/** The per-host facts a script is run with. Values are literal text, or Terraform expressions in constructs. */
export interface HostFacts {
  readonly mode: ScriptMode;
  /** Host name, for the report. */
  readonly host: string;
  /** Generation: tags the managed rules of this deployment of this host. */
  readonly generation: string;
  /** `1` to re-run through `sudo -n` when not root. */
  readonly sudo: string;
}

/** The one line of host facts: `LBP_MODE='apply' LBP_HOST='web-1' LBP_GEN='...' LBP_SUDO='0'`. */
export function hostFactsLine(facts: HostFacts): string {
  return [
    `LBP_MODE=${shellQuote(facts.mode)}`,
    `LBP_HOST=${shellQuote(facts.host)}`,
    `LBP_GEN=${shellQuote(facts.generation)}`,
    `LBP_SUDO=${shellQuote(facts.sudo)}`,
  ].join(" ");
}

/** A complete host script: shebang, host facts, policy, engine. What `remote-exec` runs, joined into one file. */
export function renderHostScript(facts: HostFacts, policyText: string): string {
  return hostScriptParts(hostFactsLine(facts), policyText).join("\n");
}

/** The parts, in order, that make a host script; `remote-exec` joins `inline` elements with newlines. */
export function hostScriptParts(factsLine: string, policyText: string): string[] {
  return ["#!/bin/sh", factsLine, policyText, engineScript()];
}
