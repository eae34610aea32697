import * as core from "@actions/core";
import type { RegistryLogger } from "../image/registry/client.js";
import { PushError, tagsNotMoved } from "../image/remote.js";
import { buildStage, type ImageBuildReport } from "../image/stage.js";
import { validateModel } from "../model/validate.js";
import { tagHeaders, tagRows } from "../report/tags.js";
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
  // Debug lines (an upload session the registry would not cancel) go to the step's debug log.
  const log: RegistryLogger = { ...actionLogger, debug: (message) => core.debug(message) };
  let report: ImageBuildReport;
  try {
    report = await buildStage(
      stageOptions(settings, validation, { log, onSecret: (secret) => core.setSecret(secret) }),
    );
  } catch (error) {
    // A push that failed after some tags moved: the outputs and the summary say which, then the step fails.
    if (error instanceof PushError && error.report) {
      await publish(error.report, validation.digest, error.message);
    }
    throw error;
  }
  await publish(report, validation.digest);
}

async function publish(report: ImageBuildReport, modelDigest: string, failure?: string): Promise<void> {
  core.setOutput("image", report.image);
  core.setOutput("digest", report.digest);
  core.setOutput("tags", report.tags.join("\n"));
  const updates = report.builder === "docker" ? undefined : report.tagUpdates;
  core.setOutput("tags-not-moved", updates ? tagsNotMoved(updates).join("\n") : "");
  core.setOutput("report", await writeReport("build", failure ? { ...report, error: failure } : report));
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
  const summary = core.summary.addHeading(
    failure ? "❌ modelship build: push failed" : "📦 modelship build",
    2,
  );
  if (failure) summary.addRaw(`${failure}\n\n`, true);
  summary.addRaw(
    markdownTable(
      ["image", "layers", "blobs", "tags", "model digest"],
      [[`\`${report.image}\``, layers, pushed, report.tags.join(", ") || "—", `\`${modelDigest}\``]],
    ),
    true,
  );
  if (updates && updates.length > 0) {
    summary.addRaw(
      `\n${markdownTable(
        tagHeaders,
        tagRows(updates, (d) => `\`${d}\``),
      )}\n`,
      true,
    );
  }
  await summary.write();
}
