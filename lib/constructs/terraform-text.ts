/**
 * Make literal text safe inside a Terraform JSON string, where `${` and `%{` start template sequences:
 * `${` becomes `$${` and `%{` becomes `%%{`, which Terraform reads back as the original text.
 */
export function terraformLiteral(text: string): string {
  // Replacement functions, not strings: in a replacement string "$$" would mean a single "$".
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

/**
 * The end (index of the closing brace) of the interpolation `${...}` (or directive `%{...}`) that starts at `start`
 * in Terraform template text, skipping braces inside quoted strings (and the sequences nested in those; `$${` and
 * `%%{` there are escapes).
 * @throws Error when the interpolation does not end
 */
export function interpolationEnd(text: string, start: number): number {
  let depth = 1;
  let i = start + 2;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") i += 2;
        else if (text.startsWith("$${", i) || text.startsWith("%%{", i)) i += 3;
        else if (text.startsWith("${", i) || text.startsWith("%{", i)) i = interpolationEnd(text, i) + 1;
        else i++;
      }
    } else if (ch === "{") {
      depth++;
    } else if (ch === "}" && --depth === 0) {
      return i;
    }
    i++;
  }
  throw new Error(`unbalanced interpolation in ${JSON.stringify(text)}`);
}

/**
 * Template text as it stands in a Terraform JSON string, as the inside of an HCL quoted template: the literal
 * parts with `"`, `\` and newlines escaped, the interpolations (`${...}`) and escapes (`$${`) as they are.
 */
export function quotedTemplateBody(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("$${", i) || text.startsWith("%%{", i)) {
      out += text.slice(i, i + 3);
      i += 3;
    } else if (text.startsWith("${", i) || text.startsWith("%{", i)) {
      const end = interpolationEnd(text, i);
      out += text.slice(i, end + 1);
      i = end + 1;
    } else {
      out += text[i] === '"' || text[i] === "\\" ? `\\${text[i]}` : text[i] === "\n" ? "\\n" : text[i];
      i++;
    }
  }
  return out;
}
