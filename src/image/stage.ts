// The build stage as the CLI, the action and the pipeline call it: the daemonless builder (the model
// appended as a layer, pushed through the registry API) or, with `builder: docker`, docker buildx and
// the user's Dockerfile. Options that only one builder understands are refused for the other, so a
// setting is never silently ignored.
import { resolve } from "node:path";
import { type BuildOptions, type BuildReport, buildImage } from "./build.js";
import { type DockerBuildReport, dockerBuild } from "./docker-build.js";
import { ANNOTATION } from "./manifest.js";

export type Builder = "daemonless" | "docker";
export const BUILDERS: readonly Builder[] = ["daemonless", "docker"];

export interface StageOptions extends BuildOptions {
  builder?: Builder;
  /** builder docker: the Dockerfile (default Dockerfile in the context). */
  dockerfile?: string;
  /** builder docker: the build context (default the current directory). */
  context?: string;
  cacheFrom?: string[];
  cacheTo?: string[];
  /** builder docker: buildx --provenance ("false", "mode=min", "mode=max"). */
  buildxProvenance?: string;
  /** builder docker: the docker executable (default "docker" on PATH). */
  docker?: string;
}

export type ImageBuildReport = (BuildReport & { builder?: "daemonless" }) | DockerBuildReport;

/** The labels that tie an image to the validated model it carries (its sha256 and format). */
export function modelLabels(model: { digest: string; format: string }): Record<string, string> {
  return { [ANNOTATION.modelDigest]: model.digest, [ANNOTATION.modelFormat]: model.format };
}

export async function buildStage(options: StageOptions): Promise<ImageBuildReport> {
  if ((options.builder ?? "daemonless") === "daemonless") {
    for (const key of ["dockerfile", "context", "cacheFrom", "cacheTo", "buildxProvenance"] as const) {
      if (options[key] !== undefined && !(Array.isArray(options[key]) && options[key].length === 0)) {
        throw new Error(`${key} applies to builder docker only; add builder: docker or remove it`);
      }
    }
    return buildImage(options);
  }
  const daemonlessOnly = {
    base: "the Dockerfile's FROM names the base",
    runtime: "the Dockerfile sets the command",
    modelPathInImage: "the Dockerfile places the model",
    ociLayout: "docker buildx pushes to the registry",
    created: "SOURCE_DATE_EPOCH or the commit time dates the image",
  } as const;
  for (const [key, why] of Object.entries(daemonlessOnly)) {
    if (options[key as keyof typeof daemonlessOnly] !== undefined) {
      throw new Error(
        `${key} applies to the daemonless builder only (${why}); remove it with builder: docker`,
      );
    }
  }
  if (options.push === false) throw new Error("builder docker always pushes (docker buildx build --push)");
  const context = resolve(options.context ?? ".");
  return dockerBuild({
    modelDir: options.modelDir,
    image: options.image,
    context,
    ...(options.dockerfile !== undefined ? { dockerfile: resolve(options.dockerfile) } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.platforms ? { platforms: options.platforms } : {}),
    ...(options.labels ? { labels: options.labels } : {}),
    ...(options.cacheFrom ? { cacheFrom: options.cacheFrom } : {}),
    ...(options.cacheTo ? { cacheTo: options.cacheTo } : {}),
    ...(options.buildxProvenance !== undefined ? { provenance: options.buildxProvenance } : {}),
    ...(options.version !== undefined ? { version: options.version } : {}),
    ...(options.provenance !== undefined ? { source: options.provenance } : {}),
    ...(options.docker !== undefined ? { docker: options.docker } : {}),
    ...(options.registry?.log ? { log: options.registry.log } : {}),
  });
}
