import { validateModel } from "../../model/validate.js";
import { validateParser, validationPolicy } from "../../settings/validate.js";
import { settingsFromArgv } from "../args.js";
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
    const settings = settingsFromArgv(validateParser, argv);
    const report = await validateModel(settings.path, {
      policy: await validationPolicy(settings),
      ...(settings.baseline ? { baseline: settings.baseline } : {}),
    });
    if (settings.json) printJson(report);
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
