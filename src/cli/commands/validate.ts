import { resolve } from "node:path";
import { findConfig } from "../../config/index.js";
import type { ValidationPolicy } from "../../model/policy.js";
import { validateModel } from "../../model/validate.js";
import { parse, UsageError } from "../args.js";
import { type Command, print, printJson } from "./common.js";

export const validate: Command = {
  summary: "check a model file or directory (exit 0 accepted, 1 rejected)",
  help: `usage: modelship validate PATH [--json] [--config FILE] [--baseline PATH] [--strict] [--skip-smoke]
  --config FILE       take the validation: policy from this modelship.yml
  --baseline PATH     the stable model (path, or a validation report .json) whose signature must still hold
  --strict            reject pickle globals that are not known-safe (validation.pickle: strict)
  --skip-smoke        do not load ONNX models in onnxruntime
  --json              print the JSON report alone on stdout`,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      json: { type: "boolean" },
      config: { type: "string" },
      baseline: { type: "string" },
      strict: { type: "boolean" },
      "skip-smoke": { type: "boolean" },
    });
    if (positionals.length !== 1) throw new UsageError("validate takes exactly one PATH");
    const path = resolve(positionals[0] as string);
    const policy: Partial<ValidationPolicy> = values.config
      ? (await findConfig(values.config, { "model.path": path })).validation
      : {};
    if (values.strict) policy.pickle = "strict";
    if (values["skip-smoke"]) policy.smokeRun = false;
    const report = await validateModel(path, {
      policy,
      ...(values.baseline ? { baseline: resolve(values.baseline) } : {}),
    });
    if (values.json) printJson(report);
    else {
      print(`${report.accepted ? "accepted" : "rejected"}: ${report.format} ${report.digest}`);
      for (const f of report.findings) {
        const where = [f.file, f.key && `[${f.key}]`, f.offset !== undefined && `@${f.offset}`]
          .filter(Boolean)
          .join(" ");
        print(`  ${f.severity} ${f.code}${where ? ` ${where}` : ""}: ${f.message}`);
      }
    }
    return report.accepted ? 0 : 1;
  },
};
