// Pure image mutation: image config and manifest as data, their canonical bytes and digests. No I/O,
// so appending a layer to a base is testable without any disk or registry.
import { z } from "zod";
import { type Descriptor, SHA256_DIGEST, sha256Digest } from "./blob.js";
import { LAYER_MEDIA_TYPE } from "./layer.js";

export const MEDIA_TYPE = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

// Layer types a base may carry, mapped to the OCI type written into the new manifest.
const LAYER_TYPES: Record<string, string> = {
  [LAYER_MEDIA_TYPE]: LAYER_MEDIA_TYPE,
  "application/vnd.oci.image.layer.v1.tar+gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
};

export const ANNOTATION = {
  created: "org.opencontainers.image.created",
  refName: "org.opencontainers.image.ref.name",
  baseName: "org.opencontainers.image.base.name",
  baseDigest: "org.opencontainers.image.base.digest",
  modelDigest: "io.modelship.model.digest",
  modelFormat: "io.modelship.model.format",
} as const;

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
  [key: string]: unknown;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  created?: string;
  config?: { Labels?: Record<string, string>; [key: string]: unknown };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

const digestSchema = z.string().regex(SHA256_DIGEST, "expected sha256:<64 lowercase hex>");

export const descriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: digestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.object({ architecture: z.string(), os: z.string(), variant: z.string().optional() }).optional(),
});

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

const configSchema = z.looseObject({
  architecture: z.string().min(1),
  os: z.string().min(1),
  created: z.string().optional(),
  config: z.looseObject({ Labels: z.record(z.string(), z.string()).nullish() }).nullish(),
  rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digestSchema) }),
  history: z.array(z.looseObject({})).nullish(),
});

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE.index || mediaType === MEDIA_TYPE.dockerManifestList;
}

/** An image manifest (OCI or Docker v2), as opposed to an index or anything this code cannot read. */
export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE.manifest || mediaType === MEDIA_TYPE.dockerManifest;
}

/** A manifest as read from a layout or a registry, under the media type it was found with. */
export function toImageManifest(parsed: z.infer<typeof manifestSchema>, mediaType: string): ImageManifest {
  const image: ImageManifest = { schemaVersion: 2, mediaType, config: parsed.config, layers: parsed.layers };
  if (parsed.annotations) image.annotations = parsed.annotations;
  return image;
}

/** Parses untrusted JSON against a schema; the error names what was being read. */
export function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`${what} is malformed:\n${z.prettifyError(result.error)}`);
  return result.data;
}

export function parseImageConfig(bytes: Uint8Array, what: string): ImageConfig {
  const parsed = parseJson(configSchema, bytes, what);
  const { config, history, ...rest } = parsed;
  const out: ImageConfig = { ...rest, rootfs: { type: "layers", diff_ids: [...parsed.rootfs.diff_ids] } };
  if (config) {
    const { Labels, ...other } = config;
    out.config = Labels ? { ...other, Labels } : { ...other };
  }
  if (history) out.history = history as HistoryEntry[];
  return out;
}

/** The OCI layer media type to write for a base layer; refuses foreign or unknown layer types. */
export function normalizeLayerMediaType(mediaType: string): string {
  const normalized = LAYER_TYPES[mediaType];
  if (!normalized) throw new Error(`base image has a layer of unsupported media type ${mediaType}`);
  return normalized;
}

/** JSON with object keys sorted at every level and no whitespace, so equal values give equal bytes. */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(sortKeys(value)), "utf8");
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function blobDescriptor(mediaType: string, bytes: Uint8Array): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * The build time written into the image: `created` when given, else SOURCE_DATE_EPOCH, else the commit
 * time (seconds), else the Unix epoch — never the clock, so rebuilding the same inputs gives the same digest.
 */
export function resolveCreated(
  created?: string,
  sourceDateEpoch?: string,
  commitTime?: number,
): { iso: string; date: Date } {
  let date: Date;
  if (created !== undefined) {
    date = new Date(created);
    if (!ISO_TIME.test(created) || Number.isNaN(date.getTime())) {
      throw new Error(
        `created must be an ISO 8601 time like 2024-01-31T12:00:00Z, got ${JSON.stringify(created)}`,
      );
    }
  } else if (sourceDateEpoch !== undefined && sourceDateEpoch !== "") {
    if (!/^\d{1,12}$/.test(sourceDateEpoch)) {
      throw new Error(
        `SOURCE_DATE_EPOCH must be a whole number of seconds, got ${JSON.stringify(sourceDateEpoch)}`,
      );
    }
    date = new Date(Number(sourceDateEpoch) * 1000);
  } else if (commitTime !== undefined) {
    date = new Date(commitTime * 1000);
  } else {
    date = new Date(0);
  }
  if (date.getTime() < 0 || date.getUTCFullYear() > 9999) {
    throw new Error(`created time ${date.toISOString()} is outside 1970..9999`);
  }
  // Tar stores whole seconds; the config gets the same instant.
  date = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return { iso: date.toISOString().replace(".000Z", "Z"), date };
}

export interface AppendLayer {
  diffId: string;
  createdBy: string;
  comment?: string;
}

/**
 * The config of `base` with one layer appended (a model-only config when there is no base): the base's
 * diff_ids, history, environment and labels are kept; labels given here win.
 */
export function appendLayerToConfig(
  base: ImageConfig | undefined,
  baseLayerCount: number,
  layer: AppendLayer,
  created: string,
  labels: Record<string, string> = {},
): ImageConfig {
  const diffIds = base?.rootfs.diff_ids ?? [];
  if (diffIds.length !== baseLayerCount) {
    throw new Error(
      `base image config lists ${diffIds.length} diff_ids but its manifest has ${baseLayerCount} layers`,
    );
  }
  // Keep history aligned with layers: a base without history gets one entry per layer.
  const history: HistoryEntry[] = base?.history
    ? [...base.history]
    : diffIds.map(() => ({ created_by: "base image layer" }));
  const entry: HistoryEntry = { created, created_by: layer.createdBy };
  if (layer.comment !== undefined) entry.comment = layer.comment;
  history.push(entry);

  const inner = { ...(base?.config ?? {}) };
  inner.Labels = { ...(inner.Labels ?? {}), [ANNOTATION.created]: created, ...labels };

  return {
    ...(base ?? {}),
    architecture: base?.architecture ?? "amd64",
    os: base?.os ?? "linux",
    created,
    config: inner,
    rootfs: { type: "layers", diff_ids: [...diffIds, layer.diffId] },
    history,
  };
}

export function buildManifest(
  config: Descriptor,
  layers: readonly Descriptor[],
  annotations?: Record<string, string>,
): ImageManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => {
      const d: Descriptor = { mediaType: l.mediaType, digest: l.digest, size: l.size };
      if (l.annotations) d.annotations = l.annotations;
      return d;
    }),
  };
  if (annotations && Object.keys(annotations).length > 0) manifest.annotations = annotations;
  return manifest;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** An OCI image index over platform manifests (each descriptor carries its platform). */
export function buildIndex(
  manifests: readonly Descriptor[],
  annotations?: Record<string, string>,
): ImageIndex {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.index,
    manifests: manifests.map((m) => {
      const d: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
      if (m.platform) d.platform = { ...m.platform };
      if (m.annotations) d.annotations = m.annotations;
      return d;
    }),
  };
  if (annotations && Object.keys(annotations).length > 0) index.annotations = annotations;
  return index;
}
