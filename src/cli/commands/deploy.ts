import { deployStage } from "../../pipeline/deploy.js";
import { leftoverText, rolloutText } from "../../report/summary.js";
import { parse } from "../args.js";
import { configFlags, configFromFlags } from "../config-flags.js";
import { type Command, configHelp, log, print, printJson } from "./common.js";

export const deploy: Command = {
  summary: "deploy the model to the target: first as stable, then as a canary through the gates",
  help: `usage: modelship deploy [--resume] [options]
  --resume            continue a canary an earlier run left unfinished from its recorded step
                      (without it, that canary is reverted first)
${configHelp}`,
  async run(argv) {
    const { values } = parse(argv, { ...configFlags, resume: { type: "boolean" } });
    const report = await deployStage(await configFromFlags(values), log, { resume: values.resume === true });
    if (values.json) printJson(report);
    else {
      if (report.leftover) print(leftoverText(report.leftover));
      if (report.rollout) print(rolloutText(report.rollout));
      print(`${report.revision}: ${report.outcome} (${report.reason})`);
    }
    return report.outcome === "reverted" ? 1 : 0;
  },
};
