import { resolve } from "node:path";
import { validateModel } from "../../model/validate.js";
import { parse, UsageError } from "../args.js";
import { type Command, print, printJson } from "./common.js";

export const validate: Command = {
  summary: "check a model file or directory (exit 0 accepted, 1 rejected)",
  help: "usage: modelship validate PATH [--json]",
  async run(argv) {
    const { values, positionals } = parse(argv, { json: { type: "boolean" } });
    if (positionals.length !== 1) throw new UsageError("validate takes exactly one PATH");
    const report = await validateModel(resolve(positionals[0] as string));
    if (values.json) printJson(report);
    else {
      print(`${report.accepted ? "accepted" : "rejected"}: ${report.format} ${report.digest}`);
      for (const f of report.findings)
        print(`  ${f.severity} ${f.code}${f.file ? ` ${f.file}` : ""}: ${f.message}`);
    }
    return report.accepted ? 0 : 1;
  },
};
