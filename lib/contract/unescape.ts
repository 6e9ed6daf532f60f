/**
 * Undo `terraformLiteral`: in a Terraform JSON string `$${` and `%%{` stand for the literal `${` and `%{`.
 * What Terraform itself does when it evaluates a string that holds no template sequence of its own.
 */
export function terraformUnliteral(text: string): string {
  return text.replace(/\$\$\{/g, () => "${").replace(/%%\{/g, () => "%{");
}
