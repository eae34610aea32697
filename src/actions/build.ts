import { resolve } from "node:path";
import * as core from "@actions/core";
import { RUNTIME_PRESETS, type RuntimePreset } from "../image/presets.js";
import { parseReference } from "../image/reference.js";
import { registryOf } from "../image/remote.js";
import { buildStage, modelLabels, parseBuilder } from "../image/stage.js";
import { validateModel } from "../model/validate.js";
import { markdownTable } from "../util/table.js";
import { actionLogger, writeReport } from "./common.js";

/** Splits a multi-line or comma-separated input. */
function list(input: string): string[] {
  return input
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export async function buildAction(): Promise<void> {
  const modelDir = resolve(core.getInput("model", { required: true }));
  const image = core.getInput("image", { required: true });
  const username = core.getInput("username");
  const password = core.getInput("password");
  if (password) core.setSecret(password);
  if (Boolean(username) !== Boolean(password)) throw new Error("give both username and password, or neither");
  const layout = core.getInput("oci-layout");
  const pushInput = core.getInput("push") || "auto";
  if (!["auto", "true", "false"].includes(pushInput)) {
    throw new Error(`push must be auto, true or false, got ${JSON.stringify(pushInput)}`);
  }
  // auto: push unless the image only goes to an OCI layout.
  const push = pushInput === "true" || (pushInput === "auto" && !layout);
  const chunkInput = core.getInput("chunk-size");
  const chunkSize = chunkInput ? Number(chunkInput) : undefined;
  if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 65_536)) {
    throw new Error(
      `chunk-size must be a whole number of bytes, at least 65536, got ${JSON.stringify(chunkInput)}`,
    );
  }

  const validation = await validateModel(modelDir);
  if (!validation.accepted) {
    throw new Error(
      `the model was rejected by validation (${validation.findings.map((f) => f.code).join(", ")}); nothing was built`,
    );
  }
  const host = registryOf(parseReference(image)).host;
  const builder = parseBuilder(core.getInput("builder"), "input builder");
  const platforms = list(core.getInput("platforms"));
  const preset = core.getInput("runtime");
  if (preset && !(RUNTIME_PRESETS as readonly string[]).includes(preset)) {
    throw new Error(
      `input runtime must be one of ${RUNTIME_PRESETS.join(", ")}, got ${JSON.stringify(preset)}`,
    );
  }
  const runtimeName = core.getInput("runtime-name");
  const version = core.getInput("version");
  const dockerfile = core.getInput("dockerfile");
  const context = core.getInput("context");
  const cacheFrom = list(core.getInput("cache-from"));
  const cacheTo = list(core.getInput("cache-to"));
  const report = await buildStage({
    builder,
    modelDir,
    image,
    base: core.getInput("base") || undefined,
    tags: list(core.getInput("tags")),
    ...(platforms.length > 0 ? { platforms } : {}),
    ...(preset
      ? { runtime: { preset: preset as RuntimePreset, ...(runtimeName ? { name: runtimeName } : {}) } }
      : {}),
    ...(version ? { version } : {}),
    ...(dockerfile ? { dockerfile } : {}),
    ...(context ? { context } : {}),
    ...(cacheFrom.length > 0 ? { cacheFrom } : {}),
    ...(cacheTo.length > 0 ? { cacheTo } : {}),
    push,
    ociLayout: layout ? resolve(layout) : undefined,
    registry: {
      insecureRegistries: list(core.getInput("insecure-registries")),
      log: actionLogger,
      credentials: {
        onSecret: (secret) => core.setSecret(secret),
        ...(username && password ? { explicit: { [host]: { username, password } } } : {}),
      },
      ...(chunkSize !== undefined ? { chunkSize } : {}),
    },
    labels: modelLabels(validation),
  });
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
