import { runPipeline } from "../../pipeline/run.js";
import { pipelineMarkdown } from "../../report/summary.js";
import { parse } from "../args.js";
import { configFlags, configFromFlags } from "../config-flags.js";
import { type Command, configHelp, log, print, printJson } from "./common.js";

export const run: Command = {
  summary:
    "the whole pipeline from the config: validate → benchmark → build → deploy → gates → promote or revert",
  help: `usage: modelship run [--resume] [options]
  --resume            continue a canary an earlier run left unfinished from its recorded step
                      (without it, that canary is reverted first)
${configHelp}`,
  async run(argv) {
    const { values } = parse(argv, { ...configFlags, resume: { type: "boolean" } });
    const config = await configFromFlags(values);
    const report = await runPipeline(config, { logger: log, resume: values.resume === true });
    if (values.json) printJson(report);
    else print(pipelineMarkdown(report));
    return report.outcome === "rejected" || report.outcome === "reverted" ? 1 : 0;
  },
};
