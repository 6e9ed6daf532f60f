import { Construct } from "constructs";
import { TerraformResource, TerraformStack } from "cdktf";
import type * as ProviderModule from "@cdktf/provider-null/lib/provider";
import type * as ResourceModule from "@cdktf/provider-null/lib/resource";
import { LoopbackPolicyError } from "../policy/errors";

/**
 * `@cdktf/provider-null`, loaded only when a policy uses `resourceType: "null_resource"`: it is an optional peer
 * dependency, so a stack of `terraform_data` (or a cdktf fork the provider package is not built for) never loads it.
 */
function load(): { provider: typeof ProviderModule; resource: typeof ResourceModule } {
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
