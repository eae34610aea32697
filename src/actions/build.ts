import * as core from "@actions/core";
import { buildStage } from "../image/stage.js";
import { validateModel } from "../model/validate.js";
import { buildParser, stageOptions } from "../settings/build.js";
import { fromInputs } from "../settings/sources.js";
import { markdownTable } from "../util/table.js";
import { actionLogger, writeReport } from "./common.js";

export async function buildAction(): Promise<void> {
  const settings = fromInputs(buildParser, core.getInput, core.setSecret);
  const validation = await validateModel(settings.model);
  if (!validation.accepted) {
    throw new Error(
      `the model was rejected by validation (${validation.findings.map((f) => f.code).join(", ")}); nothing was built`,
    );
  }
  const report = await buildStage(
    stageOptions(settings, validation, { log: actionLogger, onSecret: (secret) => core.setSecret(secret) }),
  );
  core.setOutput("image", report.image);
  core.setOutput("digest", report.digest);
  core.setOutput("tags", report.tags.join("\n"));
  core.setOutput("report", await writeReport("build", report));
  const pushed =
    report.builder === "docker"
      ? "pushed by docker buildx"
      : report.pushed
        ? `${report.pushed.uploaded} uploaded, ${report.pushed.mounted} mounted, ${report.pushed.skipped} already there`
        : "not pushed";
  const layers =
    report.builder === "docker"
      ? "—"
      : report.platforms.length > 1
        ? report.platforms.map((p) => `${p.platform}: ${p.layers.length}`).join(", ")
        : report.layers.length;
  await core.summary
    .addHeading("📦 modelship build", 2)
    .addRaw(
      markdownTable(
        ["image", "layers", "blobs", "tags", "model digest"],
        [[`\`${report.image}\``, layers, pushed, report.tags.join(", ") || "—", `\`${validation.digest}\``]],
      ),
      true,
    )
    .write();
}
