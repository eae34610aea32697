import { checkGates } from "../../pipeline/gate.js";
import { textTable } from "../../util/table.js";
import { numberFlag, parse, UsageError } from "../args.js";
import { configFlags, configFromFlags } from "../config-flags.js";
import { type Command, configHelp, print, printJson } from "./common.js";

export const gate: Command = {
  summary: "check the configured gates against a running model server",
  help: `usage: modelship gate --url URL [--duration S] [options]
  Measures accuracy on gates.accuracy.evalSet and latency / error rate under benchmark traffic.
${configHelp}`,
  async run(argv) {
    const { values } = parse(argv, { ...configFlags, url: { type: "string" }, duration: { type: "string" } });
    if (!values.url) throw new UsageError("--url is required");
    const durationS = numberFlag("duration", values.duration, 1, 3_600);
    const report = await checkGates(await configFromFlags(values), values.url, durationS);
    if (values.json) printJson(report);
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
