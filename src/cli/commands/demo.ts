import { join, resolve } from "node:path";
import { msText } from "../../bench/report.js";
import { runDemo } from "../../pipeline/demo.js";
import { trackLatency } from "../../report/rollout-chart.js";
import { packageRoot } from "../../util/self.js";
import { textTable } from "../../util/table.js";
import { parse } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

export const demo: Command = {
  summary: "the whole pipeline on the bundled Iris example: v1 stable, v2 promoted, v3 reverted",
  help: "usage: modelship demo [--state-dir DIR] [--json]",
  async run(argv) {
    const { values } = parse(argv, { "state-dir": { type: "string" }, json: { type: "boolean" } });
    const report = await runDemo(exampleDir(), log, values["state-dir"] && resolve(values["state-dir"]));
    if (values.json) printJson(report);
    else {
      const rows = report.runs.map(({ version, expected, report: r }) => {
        const pre = r.deploy?.rollout?.steps.flatMap((s) => s.gates).find((g) => g.gate === "accuracy");
        const last = r.deploy?.rollout?.steps.at(-1);
        const parts =
          pre?.parts ?? r.deploy?.firstDeployment?.gates.find((g) => g.gate === "accuracy")?.parts ?? [];
        const paired = parts.find((g) => g.gate === "accuracy-vs-stable");
        const agreement = parts.find((g) => g.gate === "agreement");
        return [
          version,
          r.deploy?.revision ?? "–",
          r.outcome,
          r.outcome === expected ? "yes" : `no (expected ${expected})`,
          msText(r.benchmark?.latencyMs.p95),
          pre ? String(pre.observed) : "–",
          paired
            ? `${paired.estimate && paired.estimate > 0 ? "+" : ""}${paired.estimate} (${paired.status})`
            : "–",
          agreement ? `${Math.round(agreement.observed * 1000) / 10}%` : "–",
          msText(last ? trackLatency(last.canary)?.p95 : undefined),
          r.deploy?.reason ?? "",
        ];
      });
      print(
        `\n${textTable(["model", "revision", "outcome", "as intended", "bench p95", "accuracy", "Δ vs stable", "agreement", "canary p95", "why"], rows)}`,
      );
      print(
        `\ndemo ${report.ok ? "behaved as intended" : "did NOT behave as intended"} in ${report.wallS.toFixed(1)} s`,
      );
    }
    return report.ok ? 0 : 1;
  },
};

function exampleDir(): string {
  return join(packageRoot(), "examples", "iris");
}
