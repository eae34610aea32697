// build: the model as an OCI image, pushed by digest and/or written as an OCI image layout.
import { RUNTIME_PRESETS, type RuntimePreset } from "../image/presets.js";
import { parseReference } from "../image/reference.js";
import { registryOf } from "../image/remote.js";
import { BUILDERS, type Builder, modelLabels, type StageOptions } from "../image/stage.js";
import type { Logger } from "../util/log.js";
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { JSON_FIELD } from "./locator.js";
import { type Reader, reader } from "./values.js";

export const BUILD_FIELDS = {
  model: { type: "string" },
  image: { type: "string" },
  base: { type: "string" },
  tags: { type: "string", multiple: true, flag: "tag" },
  platforms: { type: "string", multiple: true, flag: "platform" },
  "oci-layout": { type: "string" },
  // CLI: --push (absent means auto); action: auto, true or false.
  push: { type: "boolean" },
  username: { type: "string", flag: false },
  password: { type: "string", flag: false },
  "insecure-registries": { type: "string", multiple: true, flag: "insecure-registry" },
  "chunk-size": { type: "string" },
  runtime: { type: "string" },
  "runtime-name": { type: "string" },
  version: { type: "string", flag: "image-version" },
  builder: { type: "string" },
  dockerfile: { type: "string" },
  context: { type: "string" },
  "cache-from": { type: "string", multiple: true },
  "cache-to": { type: "string", multiple: true },
  ...JSON_FIELD,
} as const satisfies Fields;

/** The presets a flag or input can name; `custom` needs a path and a command, which only modelship.yml gives. */
export const FLAG_RUNTIMES = RUNTIME_PRESETS.filter((p) => p !== "custom");

// Each chunk is one request and is read into memory: 64 KiB to 1 GiB keeps both sensible.
const MIN_CHUNK = 64 << 10;
const MAX_CHUNK = 1 << 30;

export interface BuildSettings {
  /** The model file or directory, resolved. */
  model: string;
  image: string;
  base?: string;
  tags: string[];
  platforms: string[];
  ociLayout?: string;
  push: boolean;
  /** Registries reached over plain http, for the base's pull as for the push. */
  insecureRegistries: string[];
  chunkSize?: number;
  runtime?: { preset: RuntimePreset; name?: string };
  version?: string;
  builder: Builder;
  dockerfile?: string;
  context?: string;
  cacheFrom: string[];
  cacheTo: string[];
  /** Action: explicit registry credentials for the image's registry. */
  credentials?: { username: string; password: string };
  json: boolean;
}

export function parseBuildSettings(values: RawValues, label: Label): BuildSettings {
  const r = reader(values, label);
  const model = r.path("model");
  if (model === undefined) throw r.fail("model", "is required", "give the model file or directory");
  const image = r.required("image", "give the image reference to push to, e.g. ghcr.io/acme/iris:v2");
  r.parsed("image", () => parseReference(image));
  const ociLayout = r.path("oci-layout");
  const push = pushChoice(r, values.push);
  const preset = r.text("runtime");
  if (preset === "custom")
    throw r.fail(
      "runtime",
      "cannot be custom here",
      `a custom runtime needs the model's path and the server's command: set image.runtime in modelship.yml, or use one of ${FLAG_RUNTIMES.join(", ")}`,
    );
  const runtime = preset === undefined ? undefined : r.oneOf("runtime", FLAG_RUNTIMES);
  const runtimeName = r.text("runtime-name");
  if (runtimeName !== undefined && runtime === undefined)
    throw r.fail("runtime-name", `needs ${label("runtime")}`, "it names the model for a runtime preset");
  const username = r.text("username");
  const password = r.text("password");
  if ((username === undefined) !== (password === undefined))
    throw r.fail(
      username === undefined ? "password" : "username",
      `is given without ${label(username === undefined ? "username" : "password")}`,
      "give both, or neither (then docker's config.json or GITHUB_TOKEN is used)",
    );
  const chunkSize = r.number("chunk-size", { min: MIN_CHUNK, max: MAX_CHUNK, integer: true });
  const base = r.text("base");
  const version = r.text("version");
  const dockerfile = r.path("dockerfile");
  const context = r.path("context");
  const builder = r.oneOf("builder", BUILDERS, "daemonless");
  checkBuilder(r, builder, push);
  return {
    model,
    image,
    ...(base !== undefined ? { base } : {}),
    tags: r.list("tags", { commas: true }),
    platforms: r.list("platforms", { commas: true }),
    ...(ociLayout !== undefined ? { ociLayout } : {}),
    push: push ?? ociLayout === undefined,
    insecureRegistries: r.list("insecure-registries", { commas: true }),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(runtime ? { runtime: { preset: runtime, ...(runtimeName ? { name: runtimeName } : {}) } } : {}),
    ...(version !== undefined ? { version } : {}),
    builder,
    ...(dockerfile !== undefined ? { dockerfile } : {}),
    ...(context !== undefined ? { context } : {}),
    // buildx cache values contain commas (type=gha,mode=max): one a line or a flag each.
    cacheFrom: r.list("cache-from"),
    cacheTo: r.list("cache-to"),
    ...(username !== undefined && password !== undefined ? { credentials: { username, password } } : {}),
    json: r.boolean("json"),
  };
}

// Settings one builder understands are refused for the other (as buildStage does), named as given.
const DOCKER_ONLY = ["dockerfile", "context", "cache-from", "cache-to"];
const DAEMONLESS_ONLY: Record<string, string> = {
  base: "the Dockerfile's FROM names the base",
  runtime: "the Dockerfile sets the command",
  "oci-layout": "docker buildx pushes to the registry",
};

function checkBuilder(r: Reader, builder: Builder, push: boolean | undefined): void {
  const builderLabel = r.label("builder");
  if (builder === "daemonless") {
    const given = DOCKER_ONLY.find((name) => r.given(name));
    if (given)
      throw r.fail(
        given,
        `applies to ${builderLabel} docker only`,
        `add ${builderLabel} docker or remove ${r.label(given)}`,
      );
    return;
  }
  const given = Object.keys(DAEMONLESS_ONLY).find((name) => r.given(name));
  if (given)
    throw r.fail(
      given,
      `applies to the daemonless builder only (${DAEMONLESS_ONLY[given]})`,
      `remove it with ${builderLabel} docker`,
    );
  if (push === false)
    throw r.fail(
      "push",
      `cannot be false with ${builderLabel} docker`,
      "docker buildx build --push always pushes",
    );
}

/** true/false when asked for; undefined (auto) pushes unless the image only goes to an OCI layout. */
function pushChoice(r: Reader, value: RawValues[string]): boolean | undefined {
  if (value === undefined || value === true) return value;
  const choice = r.oneOf("push", ["auto", "true", "false"] as const, "auto");
  return choice === "auto" ? undefined : choice === "true";
}

export const buildParser: Stage<BuildSettings> = {
  fields: BUILD_FIELDS,
  parse: parseBuildSettings,
  secrets: (values) => (typeof values.password === "string" ? [values.password] : []),
};

/** The build stage's options for these settings and the validated model (its digest and format labels). */
export function stageOptions(
  s: BuildSettings,
  model: { digest: string; format: string },
  registry: { log: Logger; onSecret?: (secret: string) => void },
): StageOptions {
  const host = registryOf(parseReference(s.image)).host;
  return {
    builder: s.builder,
    modelDir: s.model,
    image: s.image,
    ...(s.base !== undefined ? { base: s.base } : {}),
    tags: s.tags,
    ...(s.platforms.length > 0 ? { platforms: s.platforms } : {}),
    ...(s.runtime ? { runtime: s.runtime } : {}),
    ...(s.version !== undefined ? { version: s.version } : {}),
    ...(s.dockerfile !== undefined ? { dockerfile: s.dockerfile } : {}),
    ...(s.context !== undefined ? { context: s.context } : {}),
    ...(s.cacheFrom.length > 0 ? { cacheFrom: s.cacheFrom } : {}),
    ...(s.cacheTo.length > 0 ? { cacheTo: s.cacheTo } : {}),
    push: s.push,
    ...(s.ociLayout !== undefined ? { ociLayout: s.ociLayout } : {}),
    registry: {
      insecureRegistries: s.insecureRegistries,
      log: registry.log,
      ...(s.chunkSize !== undefined ? { chunkSize: s.chunkSize } : {}),
      ...(registry.onSecret || s.credentials
        ? {
            credentials: {
              ...(registry.onSecret ? { onSecret: registry.onSecret } : {}),
              ...(s.credentials ? { explicit: { [host]: s.credentials } } : {}),
            },
          }
        : {}),
    },
    labels: modelLabels(model),
  };
}
