/**
 * Make literal text safe inside a Terraform JSON string, where `${` and `%{` start template sequences:
 * `${` becomes `$${` and `%{` becomes `%%{`, which Terraform reads back as the original text.
 */
export function terraformLiteral(text: string): string {
  return text.replace(/\$\{/g, "$${").replace(/%\{/g, "%%{");
}
