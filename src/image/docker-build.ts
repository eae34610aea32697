// `builder: docker`: runs `docker buildx build --push` with the user's Dockerfile (argv array via execa,
// never a shell), then reads the pushed digest from the metadata file buildx writes. The arguments
// come from buildxArgs (pure, unit-tested); this module only adds what a run needs: the tags as full
// references, the model's path in the context as a build argument, provenance labels, and
// SOURCE_DATE_EPOCH set from the commit so BuildKit's timestamps follow the source, not the clock.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { execa } from "execa";
import type { Logger } from "../util/log.js";
import { silentLogger } from "../util/log.js";
import { buildxArgs, digestFromMetadata, redactBuildxArgs } from "./buildx.js";
import { ANNOTATION, resolveCreated } from "./manifest.js";
import { parsePlatforms } from "./platform.js";
import { type ProvenanceOptions, provenanceLabels, resolveProvenance } from "./provenance.js";
import { parseReference } from "./reference.js";

export interface DockerBuildOptions {
  /** The model file or directory; must be inside the context. */
  modelDir: string;
  /** repository[:tag] to push to. */
  image: string;
  tags?: string[];
  /** Build context directory. */
  context: string;
  /** Default: Dockerfile in the context (docker's own default). */
  dockerfile?: string;
  platforms?: string[];
  labels?: Record<string, string>;
  cacheFrom?: string[];
  cacheTo?: string[];
  /** buildx --provenance: "false", "mode=min", "mode=max". */
  provenance?: string;
  version?: string;
  source?: Omit<ProvenanceOptions, "version"> | false;
  /** The docker executable; default "docker" from PATH. */
  docker?: string;
  log?: Logger;
}

export interface DockerBuildReport {
  builder: "docker";
  /** repository@sha256:… */
  image: string;
  digest: string;
  tag?: string;
  tags: string[];
  labels: Record<string, string>;
  /** The argv docker was run with, credentials in cache specs replaced by ***. */
  argv: string[];
}

const OUTPUT_TAIL = 30;

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** The model's path relative to the context, with "/" separators; refused when outside it. */
export function modelPathInContext(context: string, modelDir: string): string {
  const rel = relative(resolve(context), resolve(modelDir));
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new Error(
      `builder docker: the model (${modelDir}) must be inside the build context (${context}) so the Dockerfile can COPY it`,
    );
  }
  return rel.split(sep).join("/");
}

export async function dockerBuild(options: DockerBuildOptions): Promise<DockerBuildReport> {
  const log = options.log ?? silentLogger;
  const ref = parseReference(options.image);
  if (ref.digest !== undefined)
    throw new Error(`image ${options.image} names a digest; give repository[:tag]`);
  parsePlatforms(options.platforms ?? []);
  if (!(await isDirectory(options.context))) {
    throw new Error(`builder docker: the build context ${options.context} is not a directory`);
  }
  if (
    options.dockerfile !== undefined &&
    !(await stat(options.dockerfile).then(
      (s) => s.isFile(),
      () => false,
    ))
  ) {
    throw new Error(`builder docker: the Dockerfile ${options.dockerfile} is not a file`);
  }
  const modelArg = modelPathInContext(options.context, options.modelDir);
  const tags = [...new Set([...(ref.tag !== undefined ? [ref.tag] : []), ...(options.tags ?? [])])];
  if (tags.length === 0) tags.push("latest");

  const env = (options.source !== false ? options.source?.env : undefined) ?? process.env;
  const provenance =
    options.source === false
      ? {}
      : await resolveProvenance(options.modelDir, {
          ...options.source,
          ...(options.version !== undefined ? { version: options.version } : {}),
        });
  const created = resolveCreated(undefined, env.SOURCE_DATE_EPOCH, provenance.commitTime);
  const labels = {
    ...provenanceLabels(provenance),
    [ANNOTATION.created]: created.iso,
    ...(options.labels ?? {}),
  };

  const work = await mkdtemp(join(tmpdir(), "modelship-buildx-"));
  try {
    const metadataFile = join(work, "metadata.json");
    const argv = buildxArgs({
      context: options.context,
      ...(options.dockerfile !== undefined ? { file: options.dockerfile } : {}),
      tags: tags.map((t) => `${ref.name}:${t}`),
      ...(options.platforms && options.platforms.length > 0 ? { platforms: options.platforms } : {}),
      buildArgs: { MODELSHIP_MODEL: modelArg },
      labels,
      ...(options.cacheFrom ? { cacheFrom: options.cacheFrom } : {}),
      ...(options.cacheTo ? { cacheTo: options.cacheTo } : {}),
      ...(options.provenance !== undefined ? { provenance: options.provenance } : {}),
      metadataFile,
    });
    const docker = options.docker ?? "docker";
    const shown = redactBuildxArgs(argv);
    log.info(`${docker} ${shown.join(" ")}`);
    const result = await execa(docker, argv, {
      reject: false,
      stdin: "ignore",
      all: true,
      // BuildKit reads SOURCE_DATE_EPOCH for layer and config times (buildx ≥ 0.10).
      env: { SOURCE_DATE_EPOCH: String(Math.floor(created.date.getTime() / 1000)) },
    });
    if ((result as { code?: string }).code === "ENOENT") {
      throw new Error(
        `builder docker: ${docker} was not found on PATH; install Docker with buildx, or use builder daemonless`,
      );
    }
    if (result.exitCode !== 0 || result.failed) {
      const output = String(result.all ?? "")
        .trim()
        .split("\n")
        .slice(-OUTPUT_TAIL)
        .join("\n");
      throw new Error(
        `docker buildx build failed (${result.exitCode !== undefined ? `exit ${result.exitCode}` : (result.signal ?? "no exit code")})${output ? `:\n${output}` : ""}`,
      );
    }
    const digest = await digestFromMetadata(metadataFile);
    const report: DockerBuildReport = {
      builder: "docker",
      image: `${ref.name}@${digest}`,
      digest,
      tags,
      labels,
      argv: shown,
    };
    if (ref.tag !== undefined) report.tag = ref.tag;
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
