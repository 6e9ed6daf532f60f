#!/usr/bin/env bash
# Run the cdktf CLI with the project's Terraform CLI config (an empty terraform.rc: without one, Terraform
# warns that ~/.terraformrc is missing and the cdktf CLI exits 1) and without the version checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TF_CLI_CONFIG_FILE:-}" ] || [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  export TF_CLI_CONFIG_FILE="$PWD/terraform.rc"
fi
export CHECKPOINT_DISABLE=1
export CI="${CI:-true}"
exec npx --no-install cdktf "$@"
