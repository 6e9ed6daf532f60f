import { DefaultTokenResolver, StringConcat, TerraformElement, TerraformResource, Tokenization } from "cdktf";
import { quotedTemplateBody, terraformLiteral } from "./terraform-text";

/*
 * `cdktf synth --hcl` (HashiCorp's way off cdktf) writes the values of locals, outputs and overrides with the
 * renderer's `renderFuzzyJsonExpression` (cdktf 0.21, lib/hcl/render.js), which does not escape strings for HCL:
 *  - a string holding `${` is put between quotes as it is: a newline in it ends the string ("Invalid multi-line
 *    string"), a `"` ends it early, a `\` starts an escape;
 *  - any other string gets only its `"` escaped (a `\` still starts an escape) and its newlines kept raw;
 *  - a string that looks like an integer ("22", "0") becomes a number;
 *  - a string that starts with `"`, `[` or `{` (and holds no `${`) is written out as it is, as an expression;
 *  - keywords and references come out quoted (`when = "destroy"`, `depends_on = ["terraform_data.x"]`).
 * The CLI then runs the HCL formatter over the broken file, which mangles the texts further (`lbp_fam=$1`
 * becomes `lbp_fam = $ 1`). So the same value that is right in the JSON arrives broken in HCL.
 *
 * The functions here give the HCL synthesis of this library's elements values the renderer writes out as HCL
 * that means exactly what the JSON means. They only change what `toHclTerraform()` returns: the JSON synthesis
 * (`toTerraform()`) is untouched.
 */

/** In a Terraform JSON string: a template sequence that is not escaped (`$${` and `%%{` are literal text). */
function hasTemplateSequence(jsonString: string): boolean {
  return /[$%]\{/.test(jsonString.replace(/\$\$\{|%%\{/g, ""));
}

/** Control characters a heredoc cannot carry as they are (a newline and a tab it can). */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

/**
 * An HCL expression whose value is exactly `text`, in a form cdktf's HCL renderer writes out unchanged:
 *  - a text of several lines as a heredoc, inside an interpolation (`"${<<EOT` ... `EOT` `}"`: the renderer
 *    passes a string holding `${` through as it is), with the template escapes of the JSON (`$${`, `%%{`), so the
 *    text reads as it does in the JSON synthesis, a line per line; the marker is one the text does not contain;
 *  - anything else as a quoted string with HCL's escapes (`\\`, `\"`, `\n`, `\t`, `\uNNNN`), written with a
 *    leading `"` (which the renderer passes through) and no `${` or `%{` in it (the `{` of those is `\u007b`).
 */
export function hclLiteral(text: string): string {
  if (text.includes("\n") && !CONTROL.test(text)) {
    let marker = "EOT";
    for (let i = 1; text.includes(marker); i++) marker = `EOT${i}`;
    const body = terraformLiteral(text);
    // A heredoc's value ends with a newline: trimmed off again for a text that does not end with one.
    return text.endsWith("\n")
      ? `\${<<${marker}\n${body}${marker}\n}`
      : `\${trimsuffix(<<${marker}\n${body}\n${marker}\n, "\\n")}`;
  }
  const ESCAPES: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  const escaped = text.replace(/[\\"\x00-\x1f\x7f]|[$%]\{/g, (m) =>
    m.length === 2 ? `${m[0]}\\u007b` : ESCAPES[m] ?? `\\u${m.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `"${escaped}"`;
}

/**
 * A value as it stands in the JSON synthesis, for the HCL one: each string that is literal text in Terraform
 * JSON's template form (no `${...}` or `%{...}` of its own; `$${` and `%%{` are the literal `${` and `%{`) as
 * {@link hclLiteral} of that text; a string that is an expression (`${local.x}`) as it is (the renderer writes
 * those well when they are one line without a newline); lists and maps value by value.
 */
export function hclValue(value: unknown): unknown {
  if (typeof value === "string") {
    return hasTemplateSequence(value) ? value : hclLiteral(value.replace(/\$\$\{/g, () => "${").replace(/%%\{/g, () => "%{"));
  }
  if (Array.isArray(value)) return value.map(hclValue);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hclValue(v)]));
  }
  return value;
}

/** What the renderer writes bare: a keyword or a reference (`when = destroy`, `depends_on = [a.b]`). */
function bare(expression: string): Record<string, unknown> {
  return { value: expression, isBlock: false, type: "simple", storageClassType: "reference" };
}

/**
 * Make `element`'s HCL synthesis pass what it produces through `fix`, which may change it in place. Its JSON
 * synthesis is untouched.
 */
export function fixHcl<T extends TerraformElement>(element: T, fix: (fragment: any) => void): T {
  const render = element.toHclTerraform.bind(element);
  element.toHclTerraform = () => {
    const fragment = render();
    fix(fragment);
    return fragment;
  };
  return element;
}

/** A local whose value holds only literal text (no expression): its value written with {@link hclValue}. */
export function fixLocalHcl<T extends TerraformElement>(local: T): T {
  return fixHcl(local, (fragment) => {
    for (const entry of Object.values<any>(fragment.locals)) entry.value = hclValue(entry.value);
  });
}

/** An output: its value written with {@link hclValue}. */
export function fixOutputHcl<T extends TerraformElement>(output: T): T {
  return fixHcl(output, (fragment) => {
    for (const entry of Object.values<any>(fragment.output)) {
      if (entry.value !== undefined) entry.value.value = hclValue(entry.value.value);
    }
  });
}

/**
 * A resource of this library: the strings of its provisioner blocks written with {@link hclValue} (the
 * destroy-time block carries the engine as literal text), `when` as the keyword, `depends_on` as references.
 */
export function fixResourceHcl(resource: TerraformResource): TerraformResource {
  return fixHcl(resource, (fragment) => {
    for (const byName of Object.values<any>(fragment.resource)) {
      for (const attributes of Object.values<any>(byName)) {
        attributes.provisioner = attributes.provisioner?.map((block: Record<string, any>) =>
          Object.fromEntries(Object.entries(block).map(([type, { when, ...rest }]) => [
            type,
            { ...(hclValue(rest) as object), ...(when === undefined ? {} : { when: bare(when) }) },
          ])),
        );
        // Preconditions: templates whose literal parts hold quotes (`use e.g. "192.0.2.10"`), which the renderer
        // would put between quotes as they are.
        // Resolved here (a host set's are lazy), so that the text can be escaped.
        const checks: unknown = attributes.lifecycle?.precondition;
        if (Array.isArray(checks)) {
          const resolver = new DefaultTokenResolver(new StringConcat());
          // As blocks (`precondition { ... }`) in a typed lifecycle block: a plain list would be written as an
          // argument, which Terraform refuses.
          attributes.lifecycle = { isBlock: true, type: "block", value: attributes.lifecycle };
          attributes.lifecycle.value.precondition = {
            isBlock: true,
            type: "list",
            storageClassType: "list",
            value: checks.map((c: Record<string, unknown>) =>
              Object.fromEntries(Object.entries(c).map(([k, raw]) => {
                const v = Tokenization.resolve(raw, { scope: resource, preparing: false, resolver });
                return [k, typeof v === "string" && hasTemplateSequence(v) ? quotedTemplateBody(v) : hclValue(v)];
              })),
            ),
          };
        }
        // Tokens (the stack resolves them, in this string too, to the addresses they stand for).
        const dependsOn: unknown = attributes.depends_on;
        if (Array.isArray(dependsOn) && dependsOn.length > 0 && dependsOn.every((d) => typeof d === "string")) {
          attributes.depends_on = bare(`[${dependsOn.join(", ")}]`);
        }
      }
    }
  });
}
