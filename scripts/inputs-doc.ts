/** Regenerate docs/INPUTS.md from the bad-input table (npm run docs:inputs). */
import { writeFileSync } from "fs";
import { join } from "path";
import { inputsDocument } from "../__tests__/support/bad-inputs";

writeFileSync(join(__dirname, "..", "docs", "INPUTS.md"), inputsDocument());
console.log("wrote docs/INPUTS.md");
