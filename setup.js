const fs = require("fs");
const path = require("path");
const cdktf = require("cdktf");

cdktf.Testing.setupJest();

// Terraform warns (and the cdktf CLI fails) when the CLI config file it is pointed at does not exist.
if (!process.env.TF_CLI_CONFIG_FILE || !fs.existsSync(process.env.TF_CLI_CONFIG_FILE)) {
  process.env.TF_CLI_CONFIG_FILE = path.join(__dirname, "terraform.rc");
}
process.env.CHECKPOINT_DISABLE = "1";
