import { createHash } from "crypto";
import { Testing, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps, engineScript } from "../../lib/core";
import { terraformLiteral } from "../../lib/constructs/terraform-text";

/** The engine as it appears in the synthesized JSON (template sequences escaped). */
export const ENGINE_IN_JSON = terraformLiteral(engineScript());
/** What snapshots show instead of the engine text, which is pinned as a source file of its own. */
export const ENGINE_PLACEHOLDER = `<engine.sh, ${engineScript().split("\n").length} lines, sha256 ${createHash("sha256").update(engineScript()).digest("hex").slice(0, 16)}>`;

/** Synthesize one LoopbackPolicy in a fresh stack; returns the parsed JSON and the stack. */
export function synth(props: LoopbackPolicyProps, id = "loopback") {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  const policy = new LoopbackPolicy(stack, id, props);
  const json = JSON.parse(Testing.synth(stack));
  return { json, stack, policy, text: Testing.synth(stack) };
}

/** A resource's `for_each` map (host name to generation), read from the local the resource references. */
export function forEachOf(json: any, res: any): Record<string, string> {
  const local = /^\$\{local\.([A-Za-z0-9_-]+)\}$/.exec(res.for_each)?.[1];
  if (local === undefined || json.locals?.[local] === undefined) throw new Error(`for_each ${JSON.stringify(res.for_each)} is not a reference to a local of this stack`);
  return json.locals[local];
}

/**
 * The synthesized JSON with each provisioner's engine replaced by a placeholder, after checking that the
 * replaced text is exactly the engine: what a reviewer reads in a snapshot is the whole truth but the engine.
 */
export function readable(json: any): any {
  const copy = JSON.parse(JSON.stringify(json));
  for (const [name, value] of Object.entries(copy.locals ?? {})) {
    if (!name.endsWith("_engine")) continue;
    if (value !== ENGINE_IN_JSON) throw new Error(`local ${name} does not hold the engine verbatim`);
    copy.locals[name] = ENGINE_PLACEHOLDER;
  }
  for (const type of Object.keys(copy.resource ?? {})) {
    for (const res of Object.values<any>(copy.resource[type])) {
      for (const block of res.provisioner ?? []) {
        const inline: string[] = block["remote-exec"].inline;
        if (/^\$\{local\.[A-Za-z0-9_-]+_engine\}$/.test(inline[3])) continue;
        if (inline[3] !== ENGINE_IN_JSON) throw new Error("provisioner does not carry the engine verbatim");
        inline[3] = ENGINE_PLACEHOLDER;
      }
    }
  }
  return copy;
}
