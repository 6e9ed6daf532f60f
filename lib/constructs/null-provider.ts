import { Construct } from "constructs";
import { TerraformResource, TerraformStack } from "cdktf";
import type * as ProviderModule from "@cdktf/provider-null/lib/provider";
import type * as ResourceModule from "@cdktf/provider-null/lib/resource";
import { LoopbackPolicyError } from "../policy/errors";

/**
 * Whether the `cdktf` module this library runs on is CDK Terrain: a CDK Terrain app maps the package name `cdktf`
 * to `cdktn` (npm `overrides`, pnpm or yarn overrides), so what `require("cdktf")` loads is the package named
 * `cdktn`. Read from that package's own package.json, nothing else.
 */
function onCdkTerrain(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("cdktf/package.json") as { name?: unknown }).name === "cdktn";
  } catch {
    return false;
  }
}

/**
 * `@cdktf/provider-null`, loaded only when a policy uses `resourceType: "null_resource"`: it is an optional peer
 * dependency, so a stack of `terraform_data` never loads it. Under CDK Terrain it is refused before it is loaded:
 * it is built for cdktf (its peer dependency is `cdktf ^0.21`, there is no CDK Terrain build of it), and a copy
 * that loads the real cdktf beside CDK Terrain breaks the synth with an internal TypeError
 * (`_resetResolveDiscoveredProviderFeatureUsage is not a function`). Refused also where an override makes it load
 * on cdktn: that is outside its declared range, depends on how the package manager laid the tree, and is untested.
 */
function load(): { provider: typeof ProviderModule; resource: typeof ResourceModule } {
  if (onCdkTerrain()) {
    throw new LoopbackPolicyError(
      "resourceType",
      '"null_resource" (the default) is not available under CDK Terrain (cdktn): it needs @cdktf/provider-null, which is built for cdktf, not for CDK Terrain',
      'set resourceType: "terraform_data" (built into Terraform 1.4+, no provider)',
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return { provider: require("@cdktf/provider-null/lib/provider"), resource: require("@cdktf/provider-null/lib/resource") };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
    throw new LoopbackPolicyError(
      "resourceType",
      '"null_resource" (the default) needs the package @cdktf/provider-null, which is not installed',
      'npm install @cdktf/provider-null@^11, or set resourceType: "terraform_data" (built into Terraform 1.4+, no provider)',
    );
  }
}

/** A `null_resource`, with the `null` provider added to the stack once. */
export function nullResource(scope: Construct, id: string, config: ResourceModule.ResourceConfig): TerraformResource {
  const { provider, resource } = load();
  const stack = TerraformStack.of(scope);
  if (!stack.node.children.some((c) => c instanceof provider.NullProvider)) new provider.NullProvider(stack, "null");
  return new resource.Resource(scope, id, config);
}
