import { resolve } from "node:path";
import * as core from "@actions/core";
import { validateModel } from "../model/validate.js";
import { markdownTable } from "../util/table.js";
import { writeReport } from "./common.js";

export async function validateAction(): Promise<void> {
  const report = await validateModel(resolve(core.getInput("path", { required: true })));
  for (const f of report.findings) {
    const annotate =
      f.severity === "error" ? core.error : f.severity === "warning" ? core.warning : core.notice;
    annotate(`${f.code}: ${f.message}`, { title: "modelship validate", file: f.file });
  }
  core.setOutput("accepted", String(report.accepted));
  core.setOutput("digest", report.digest);
  core.setOutput("format", report.format);
  core.setOutput("report", await writeReport("validate", report));
  await core.summary
    .addHeading(`${report.accepted ? "✅" : "❌"} model ${report.accepted ? "accepted" : "rejected"}`, 2)
    .addRaw(
      markdownTable(
        ["format", "digest", "files", "findings"],
        [[report.format, `\`${report.digest}\``, report.files.length, report.findings.length]],
      ),
      true,
    )
    .addRaw(
      report.findings.length
        ? `\n${markdownTable(
            ["severity", "code", "file", "message"],
            report.findings.map((f) => [f.severity, f.code, f.file ?? "", f.message]),
          )}\n`
        : "",
    )
    .write();
  if (!report.accepted)
    core.setFailed(
      `the model at ${report.path} was rejected: ${report.findings.map((f) => f.code).join(", ")}`,
    );
}
