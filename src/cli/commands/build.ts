import type { RegistryLogger } from "../../image/registry/client.js";
import { PushError } from "../../image/remote.js";
import { buildStage, type ImageBuildReport } from "../../image/stage.js";
import { validateModel } from "../../model/validate.js";
import { buildParser, FLAG_RUNTIMES, stageOptions } from "../../settings/build.js";
import { settingsFromArgv } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

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
  --runtime PRESET [--runtime-name NAME]   place the model for a server: ${FLAG_RUNTIMES.join(", ")}
  --image-version V               org.opencontainers.image.version (default: the git tag of the commit)
  --tag, --platform, --insecure-registry: repeat the flag, or separate values with commas
  --insecure-registry HOST:PORT   reach this registry over plain http (the base's and the push's)
  --chunk-size BYTES              upload layers in chunks (resumable, 65536 to 1073741824 bytes) instead of one streamed request
  --builder docker                run docker buildx build --push with --dockerfile (default daemonless);
                                  the model's path in --context (default .) is the build arg MODELSHIP_MODEL`,
  async run(argv) {
    const settings = settingsFromArgv(buildParser, argv);
    const validation = await validateModel(settings.model);
    if (!validation.accepted) {
      for (const f of validation.findings) log.error(`${f.code}: ${f.message}`);
      log.error("the model was rejected by validation; nothing was built");
      return 1;
    }
    // MODELSHIP_DEBUG=1 also shows debug lines (an upload session the registry would not cancel).
    const registryLog: RegistryLogger = {
      ...log,
      debug: (message) => {
        if (process.env.MODELSHIP_DEBUG) process.stderr.write(`debug: ${message}\n`);
      },
    };
    let report: ImageBuildReport;
    try {
      report = await buildStage(stageOptions(settings, validation, { log: registryLog }));
    } catch (error) {
      // A push that failed after some tags moved: --json still gets the report (tags = those that
      // moved, tagUpdates = each tag's fate); the error on stderr says the same in words.
      if (error instanceof PushError && error.report && settings.json) printJson(error.report);
      throw error;
    }
    if (settings.json) printJson(report);
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
      if (report.builder !== "docker") {
        const moved = (report.tagUpdates ?? []).filter((u) => u.status === "moved" && u.previous);
        for (const u of moved) lines.push(`  moved ${u.tag} from ${u.previous}`);
      }
      if (report.builder !== "docker" && report.ociLayout) lines.push(`  written to ${report.ociLayout}`);
      print(lines.join("\n"));
    }
    return 0;
  },
};
