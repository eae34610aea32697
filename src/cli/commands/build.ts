import { resolve } from "node:path";

import { RUNTIME_PRESETS, type RuntimePreset } from "../../image/presets.js";
import { type Builder, buildStage, modelLabels, parseBuilder } from "../../image/stage.js";
import { validateModel } from "../../model/validate.js";
import { numberFlag, parse, UsageError } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

/** Repeatable flags also accept comma-separated values, as docker's --platform does. */
const many = (values: string[] | undefined) =>
  (values ?? [])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");

export const build: Command = {
  summary: "build a reproducible OCI image of the model and push it (or write it as an OCI image layout)",
  help: `usage: modelship build --model DIR --image REF [--base REF|oci:DIR[:TAG]] [--tag TAG]...
                      [--platform OS/ARCH]... [--runtime PRESET [--runtime-name NAME]] [--image-version V]
                      [--oci-layout DIR] [--push] [--insecure-registry HOST:PORT]... [--chunk-size BYTES] [--json]
                      [--builder docker [--dockerfile FILE] [--context DIR] [--cache-from X]... [--cache-to X]...]
  Pushes to the registry named by --image unless only --oci-layout is given (add --push to do both).
  Credentials come from docker's config.json (docker login, credential helpers) or GITHUB_TOKEN for ghcr.io.
  Labels org.opencontainers.image.{source,revision,created} come from GitHub Actions' environment or git;
  created is SOURCE_DATE_EPOCH or the commit time, so rebuilding a commit gives the same digest.
  --platform OS/ARCH              build for this platform of the base's index (repeat for an image index)
  --runtime PRESET [--runtime-name NAME]   place the model for a server: ${RUNTIME_PRESETS.filter((p) => p !== "custom").join(", ")}
  --image-version V               org.opencontainers.image.version (default: the git tag of the commit)
  --insecure-registry HOST:PORT   reach this registry over plain http (implies --push)
  --chunk-size BYTES              upload layers in chunks (resumable) instead of one streamed request
  --builder docker                run docker buildx build --push with --dockerfile (default daemonless);
                                  the model's path in --context (default .) is the build arg MODELSHIP_MODEL`,
  async run(argv) {
    const { values } = parse(argv, {
      model: { type: "string" },
      image: { type: "string" },
      base: { type: "string" },
      tag: { type: "string", multiple: true },
      platform: { type: "string", multiple: true },
      "oci-layout": { type: "string" },
      push: { type: "boolean" },
      "insecure-registry": { type: "string", multiple: true },
      "chunk-size": { type: "string" },
      runtime: { type: "string" },
      "runtime-name": { type: "string" },
      "image-version": { type: "string" },
      builder: { type: "string" },
      dockerfile: { type: "string" },
      context: { type: "string" },
      "cache-from": { type: "string", multiple: true },
      "cache-to": { type: "string", multiple: true },
      json: { type: "boolean" },
    });
    if (!values.model || !values.image) throw new UsageError("--model and --image are required");
    let builder: Builder;
    try {
      builder = parseBuilder(values.builder, "--builder");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const insecure = values["insecure-registry"] ?? [];
    const push = values.push === true || insecure.length > 0 || values["oci-layout"] === undefined;
    const chunkSize = numberFlag("chunk-size", values["chunk-size"], 64 << 10, 1 << 30);
    const preset = values.runtime as RuntimePreset | undefined;
    if (preset !== undefined && (!RUNTIME_PRESETS.includes(preset) || preset === "custom")) {
      throw new UsageError(
        `--runtime must be one of ${RUNTIME_PRESETS.filter((p) => p !== "custom").join(", ")}`,
      );
    }
    const modelDir = resolve(values.model);
    const validation = await validateModel(modelDir);
    if (!validation.accepted) {
      for (const f of validation.findings) log.error(`${f.code}: ${f.message}`);
      log.error("the model was rejected by validation; nothing was built");
      return 1;
    }
    const platforms = many(values.platform);
    const report = await buildStage({
      builder,
      modelDir,
      image: values.image,
      base: values.base,
      tags: values.tag ?? [],
      ...(platforms.length > 0 ? { platforms } : {}),
      ...(preset
        ? { runtime: { preset, ...(values["runtime-name"] ? { name: values["runtime-name"] } : {}) } }
        : {}),
      ...(values["image-version"] !== undefined ? { version: values["image-version"] } : {}),
      ...(values.dockerfile !== undefined ? { dockerfile: values.dockerfile } : {}),
      ...(values.context !== undefined ? { context: values.context } : {}),
      ...(values["cache-from"] ? { cacheFrom: values["cache-from"] } : {}),
      ...(values["cache-to"] ? { cacheTo: values["cache-to"] } : {}),
      push,
      registry: { insecureRegistries: insecure, log, ...(chunkSize !== undefined ? { chunkSize } : {}) },
      ociLayout: values["oci-layout"] && resolve(values["oci-layout"]),
      labels: modelLabels(validation),
    });
    if (values.json) printJson(report);
    else {
      const lines = [report.image];
      if (report.builder !== "docker" && report.platforms.length > 1) {
        lines.push(`  platforms: ${report.platforms.map((p) => p.platform).join(", ")}`);
      }
      if (report.builder !== "docker" && report.pushed) {
        const p = report.pushed;
        lines.push(
          `  pushed: ${p.uploaded} blobs uploaded, ${p.mounted} mounted, ${p.skipped} already there`,
        );
      }
      if (report.tags.length > 0) lines.push(`  tags: ${report.tags.join(", ")}`);
      if (report.builder !== "docker" && report.ociLayout) lines.push(`  written to ${report.ociLayout}`);
      print(lines.join("\n"));
    }
    return 0;
  },
};
