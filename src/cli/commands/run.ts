import { findRunConfig } from "../../config/index.js";
import { runPipeline } from "../../pipeline/run.js";
import { pipelineMarkdown } from "../../report/summary.js";
import { deployParser, refuseImage } from "../../settings/deploy.js";
import { settingsFromArgv } from "../args.js";
import { type Command, configHelp, log, print, printDryRun, printJson } from "./common.js";

export const run: Command = {
  summary:
    "the whole pipeline from the config: validate → benchmark → build → deploy → gates → promote or revert",
  help: `usage: modelship run [--resume] [--dry-run] [options]
  --resume            continue a canary an earlier run left unfinished from its recorded step
                      (without it, that canary is reverted first)
  --dry-run           print every Kubernetes object the deploy would apply, as YAML; contact nothing
${configHelp}`,
  async run(argv) {
    const settings = settingsFromArgv(deployParser, argv);
    if (settings.image) refuseImage("--image");
    const config = await findRunConfig(settings.locator, settings.locator.labels);
    if (settings.dryRun) return printDryRun(config);
    const report = await runPipeline(config, { logger: log, resume: settings.resume });
    if (settings.json) printJson(report);
    else print(pipelineMarkdown(report));
    return report.outcome === "rejected" || report.outcome === "reverted" ? 1 : 0;
  },
};
