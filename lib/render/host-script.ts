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
  /**
   * The Terraform resource instance that runs the script (`self.id`). `apply` records it as the owner of the
   * generation's rules; `remove` removes them only for their owner, so the old instance of a replacement with the
   * same generation (`terraform apply -replace`) leaves the new instance's rules alone.
   * @default "" (claims nothing; `remove` then removes the generation's rules whoever owns them)
   */
  readonly instance?: string;
}

/** The one line of host facts: `LBP_MODE='apply' LBP_HOST='web-1' LBP_GEN='...' LBP_SUDO='0' LBP_INSTANCE='...'`. */
export function hostFactsLine(facts: HostFacts): string {
  return [
    `LBP_MODE=${shellQuote(facts.mode)}`,
    `LBP_HOST=${shellQuote(facts.host)}`,
    `LBP_GEN=${shellQuote(facts.generation)}`,
    `LBP_SUDO=${shellQuote(facts.sudo)}`,
    `LBP_INSTANCE=${shellQuote(facts.instance ?? "")}`,
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
