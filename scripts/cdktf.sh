#!/usr/bin/env bash
# Run the cdktf CLI with the project's Terraform CLI config (an empty terraform.rc: without one, Terraform
# warns that ~/.terraformrc is missing and the cdktf CLI exits 1) and without the version checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TF_CLI_CONFIG_FILE:-}" ] || [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  export TF_CLI_CONFIG_FILE="$PWD/terraform.rc"
fi
export CHECKPOINT_DISABLE=1
# Wait up to 2 minutes for a state lock another deploy holds (shared backends, stacks deployed in parallel,
# the first apply of a new pg state) instead of failing at once. An explicit TF_CLI_ARGS_* wins.
for tf_command in plan apply destroy; do
  var="TF_CLI_ARGS_${tf_command}"
  [ -n "${!var:-}" ] || export "$var=-lock-timeout=120s"
done
# The project's own CLI, without npx's ~0.4 s of start-up (npx only when node_modules has no bin link).
if [ -x node_modules/.bin/cdktf ]; then
  exec node_modules/.bin/cdktf "$@"
fi
exec npx --no-install cdktf "$@"
