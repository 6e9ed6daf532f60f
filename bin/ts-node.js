// Load the TypeScript sources of this package with ts-node, transpiling only (fast; `npm run build` type-checks).
const path = require("path");

exports.register = function register() {
  let tsNode;
  try {
    tsNode = require("ts-node");
  } catch (e) {
    process.stderr.write("cdktf-loopback-policy: ts-node is not installed, and the CLIs run the TypeScript sources with it. Fix: npm install --save-dev ts-node typescript\n");
    process.exit(2);
  }
  tsNode.register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
};
