// `builder: docker`: the arguments for `docker buildx build --push --metadata-file …`, built by a pure
// function (as docker/actions-toolkit does) so every option is unit-tested without a daemon; the digest
// is then read from the metadata file buildx writes.
import { readFile } from "node:fs/promises";
import { SHA256_DIGEST } from "./blob.js";
import { parseReference } from "./reference.js";

export interface BuildxOptions {
  context: string;
  file?: string;
  /** Full references, e.g. ghcr.io/acme/iris:v2. */
  tags: string[];
  platforms?: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** e.g. "type=gha" or "type=registry,ref=ghcr.io/acme/iris:cache". */
  cacheFrom?: string[];
  cacheTo?: string[];
  /** "false", "mode=min", "mode=max". */
  provenance?: string;
  sbom?: boolean;
  metadataFile: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function buildxArgs(options: BuildxOptions): string[] {
  if (options.tags.length === 0) throw new Error("builder docker needs at least one image tag");
  const args = ["buildx", "build", "--push", "--metadata-file", options.metadataFile];
  for (const tag of options.tags) {
    parseReference(tag);
    args.push("--tag", tag);
  }
  if (options.file) args.push("--file", options.file);
  if (options.platforms && options.platforms.length > 0) {
    for (const p of options.platforms) {
      if (!/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/.test(p))
        throw new Error(`platform ${JSON.stringify(p)} is not os/arch[/variant]`);
    }
    args.push("--platform", options.platforms.join(","));
  }
  for (const [kind, values] of [
    ["--build-arg", options.buildArgs],
    ["--label", options.labels],
  ] as const) {
    for (const [key, value] of Object.entries(values ?? {})) {
      if (!KEY.test(key)) throw new Error(`${kind} name ${JSON.stringify(key)} is not valid`);
      args.push(kind, `${key}=${value}`);
    }
  }
  for (const c of options.cacheFrom ?? []) args.push("--cache-from", c);
  for (const c of options.cacheTo ?? []) args.push("--cache-to", c);
  if (options.provenance !== undefined) args.push(`--provenance=${options.provenance}`);
  if (options.sbom !== undefined) args.push(`--sbom=${options.sbom}`);
  // "--" keeps a context starting with "-" from being read as an option.
  args.push("--", options.context);
  return args;
}

// Cache backends take credentials as attributes: gha token=, s3/azblob secret_access_key= and session_token=.
const SECRET_ATTRIBUTE = /token|secret|password/i;

/** The argv fit for a log or a report: credential attributes of cache specs are replaced by ***. */
export function redactBuildxArgs(argv: readonly string[]): string[] {
  return argv.map((arg, i) => {
    if (argv[i - 1] !== "--cache-from" && argv[i - 1] !== "--cache-to") return arg;
    return arg
      .split(",")
      .map((attribute) => {
        const eq = attribute.indexOf("=");
        return eq > 0 && SECRET_ATTRIBUTE.test(attribute.slice(0, eq))
          ? `${attribute.slice(0, eq)}=***`
          : attribute;
      })
      .join(",");
  });
}

/** The pushed image's digest from buildx's metadata file ("containerimage.digest"). */
export async function digestFromMetadata(path: string): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read buildx metadata ${path}: ${(err as Error).message}`);
  }
  const digest = (parsed as Record<string, unknown> | null)?.["containerimage.digest"];
  if (typeof digest !== "string" || !SHA256_DIGEST.test(digest)) {
    throw new Error(`buildx metadata ${path} has no valid containerimage.digest`);
  }
  return digest;
}
