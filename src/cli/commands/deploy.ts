import { findRunConfig } from "../../config/index.js";
import { deployStage } from "../../pipeline/deploy.js";
import { leftoverText, rolloutText } from "../../report/summary.js";
import { deployParser } from "../../settings/deploy.js";
import { settingsFromArgv } from "../args.js";
import { type Command, configHelp, log, print, printDryRun, printJson } from "./common.js";

export const deploy: Command = {
  summary: "deploy the model to the target: first as stable, then as a canary through the gates",
  help: `usage: modelship deploy [--resume] [--dry-run] [options]
  --resume            continue a canary an earlier run left unfinished from its recorded step
                      (without it, that canary is reverted first)
  --image REF@sha256:…  the image to run (the build's output), needed by a Kubernetes target
  --dry-run           print every Kubernetes object the deploy would apply, as YAML; contact nothing
${configHelp}`,
  async run(argv) {
    const settings = settingsFromArgv(deployParser, argv);
    const config = await findRunConfig(settings.locator, settings.locator.labels);
    if (settings.dryRun) return printDryRun(config);
    const report = await deployStage(config, log, {
      resume: settings.resume,
      ...(settings.image ? { image: settings.image } : {}),
    });
    if (settings.json) printJson(report);
    else {
      if (report.leftover) print(leftoverText(report.leftover));
      if (report.rollout) print(rolloutText(report.rollout));
      print(`${report.revision}: ${report.outcome} (${report.reason})`);
    }
    return report.outcome === "reverted" ? 1 : 0;
  },
};
