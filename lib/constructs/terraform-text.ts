/**
 * Make literal text safe inside a Terraform JSON string, where `${` and `%{` start template sequences:
 * `${` becomes `$${` and `%{` becomes `%%{`, which Terraform reads back as the original text.
 */
export function terraformLiteral(text: string): string {
  // Replacement functions, not strings: in a replacement string "$$" would mean a single "$".
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}
