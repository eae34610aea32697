import { findRunConfig } from "../../config/index.js";
import { checkGates } from "../../pipeline/gate.js";
import { gateParser } from "../../settings/gate.js";
import { textTable } from "../../util/table.js";
import { settingsFromArgv } from "../args.js";
import { type Command, configHelp, print, printJson } from "./common.js";

export const gate: Command = {
  summary: "check the configured gates against a running model server",
  help: `usage: modelship gate --url URL [--duration D] [options]
  Measures accuracy on gates.accuracy.evalSet and latency / error rate under benchmark traffic.
  --duration D        load for the latency and error-rate gates, 1s to 1h: 30 (seconds), "30s", "2m"
                      (default benchmark.duration)
${configHelp}`,
  async run(argv) {
    const settings = settingsFromArgv(gateParser, argv);
    const config = await findRunConfig(settings.locator, settings.locator.labels);
    const report = await checkGates(config, settings.url, settings.durationS);
    if (settings.json) printJson(report);
    else
      print(
        textTable(
          ["gate", "status", "evidence"],
          report.gates.map((g) => [g.gate, g.status, g.message]),
        ),
      );
    return report.passed ? 0 : 1;
  },
};
