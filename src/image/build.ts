// build: the model as a layer on a base image (or alone, like a KServe modelcar), reproducibly, written
// to an OCI image layout and/or pushed to a registry. The reference, options, base metadata and model
// tree are all checked before the first byte is written; base layers are verified as they are copied.
// A push streams every blob from disk (the model layer is written to a layout first, a temporary one
// when none was asked for) or mounts/streams base layers from the base's repository. It is cancelled by
// `signal` or by SIGINT/SIGTERM (a cancelled workflow): uploads stop, their sessions are cancelled on
// the registry, and no further tag moves.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onInterrupt } from "../util/child-cleanup.js";
import {
  type Descriptor,
  discardSink,
  type ImageSink,
  type ImageSource,
  type Platform,
  writeBlob,
} from "./blob.js";
import { DEFAULT_MODEL_PATH, normalizeImagePath, planModelLayer, writeModelLayer } from "./layer.js";
import { OciLayoutReader, OciLayoutWriter, parseBaseSpec, type ResolvedImage } from "./layout.js";
import {
  ANNOTATION,
  appendLayerToConfig,
  blobDescriptor,
  buildIndex,
  buildManifest,
  canonicalJson,
  MEDIA_TYPE,
  normalizeLayerMediaType,
  resolveCreated,
} from "./manifest.js";
import { configPlatform, formatPlatform, parsePlatforms, platformMatches } from "./platform.js";
import { mergeRuntimeConfig, type RuntimeSpec, runtimePlacement } from "./presets.js";
import { type ProvenanceOptions, provenanceLabels, resolveProvenance } from "./provenance.js";
import { parseReference } from "./reference.js";
import type { BlobOpener } from "./registry/repository.js";
import {
  fileOpener,
  type PushBlob,
  PushError,
  type PushOptions,
  type PushResult,
  pushImage,
  Registries,
  type RegistryOptions,
  registryOf,
  remoteOpener,
  resolveRemoteImages,
  type TagUpdate,
  tagsAtDigest,
} from "./remote.js";

export interface BuildOptions {
  /** A directory or a single model file. */
  modelDir: string;
  /** Where the image is meant to live, e.g. "localhost:5000/iris:v2"; the tag names it in the layout. */
  image: string;
  /** "oci:DIR" or "oci:DIR:TAG", or an image reference on a registry; omitted → a model-only image. */
  base?: string;
  /**
   * Platforms to build, e.g. ["linux/amd64", "linux/arm64"]: each is picked from the base's index and
   * gets the same model layer; two or more give an OCI image index. Default: linux/amd64 from an index
   * base, or whatever a single-platform base is.
   */
  platforms?: string[];
  /** Push the image to the registry its reference names (by digest, then the tag and `tags`). */
  push?: boolean;
  /** More tags to point at the pushed image. */
  tags?: string[];
  /** Registry access: insecure hosts, credentials, retry policy, chunked uploads, logging. */
  registry?: RegistryOptions;
  /** Write the result as an OCI image layout into this directory; omitted → digests only. */
  ociLayout?: string;
  /** Default "/models/model", or where `runtime` puts it. */
  modelPathInImage?: string;
  /** A runtime preset: places the model where that server expects it and sets its arguments. */
  runtime?: RuntimeSpec;
  labels?: Record<string, string>;
  /** org.opencontainers.image.version; default the tag the CI runs for, else a git tag on the commit. */
  version?: string;
  /**
   * Where the source, revision and commit time come from (default: process.env, then git in the
   * model's repository); false: none of them.
   */
  provenance?: Omit<ProvenanceOptions, "version"> | false;
  /** ISO time; default SOURCE_DATE_EPOCH, else the commit time, else 1970-01-01T00:00:00Z. */
  created?: string;
  /** Cancels the build; a push in flight stops and cancels its upload sessions on the registry. */
  signal?: AbortSignal;
}

export interface PlatformImage {
  platform: string;
  digest: string;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string }[];
}

export interface BuildReport {
  /** repository@sha256:… */
  image: string;
  tag?: string;
  /** The manifest's digest, or the index's when several platforms were built. */
  digest: string;
  mediaType: string;
  /** For an index: those of its first platform (each one is in `platforms`). */
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string }[];
  /** Every platform built, in the order asked. */
  platforms: PlatformImage[];
  /** The OCI labels set from where the build came from (source, revision, version, created). */
  labels: Record<string, string>;
  created: string;
  /** Tags that point at the image (empty when not pushed); after a failed push, those that moved. */
  tags: string[];
  /** Each tag asked for: moved (from what), already there, failed or not tried. */
  tagUpdates?: TagUpdate[];
  ociLayout?: string;
  pushed?: PushResult & { registry: string; repository: string };
}

interface Base {
  name: string;
  source: ImageSource;
  /** One per wanted platform, in the same order. */
  images: ResolvedImage[];
  /** Re-openable bytes of a base blob, for pushing. */
  open(descriptor: Descriptor): BlobOpener;
  /** host and repository when the base lives on a registry. */
  remote?: { host: string; repository: string };
}

function checkLabels(labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels)) {
    if (key.length === 0 || /[\s\0]/.test(key))
      throw new Error(`label key ${JSON.stringify(key)} is empty or has whitespace`);
    if (typeof value !== "string") throw new Error(`label ${key} must be a string`);
  }
}

function checkBaseSpec(spec: string): void {
  if (spec.startsWith("oci:")) {
    parseBaseSpec(spec);
    return;
  }
  try {
    parseReference(spec);
  } catch (err) {
    throw new Error(
      `base ${JSON.stringify(spec)} is neither oci:DIR[:TAG] nor an image reference: ${(err as Error).message}`,
    );
  }
}

async function openBase(spec: string, registries: () => Registries, platforms: Platform[]): Promise<Base> {
  if (spec.startsWith("oci:")) {
    const { dir, tag } = parseBaseSpec(spec);
    const source = await OciLayoutReader.open(dir);
    const images =
      platforms.length > 0
        ? await Promise.all(platforms.map((p) => source.resolveImage(tag, p)))
        : [await source.resolveImage(tag)];
    return { name: spec, source, images, open: (d) => fileOpener(source.blobPath(d.digest)) };
  }
  const ref = parseReference(spec);
  const repo = await registries().repository(ref, false);
  const images = await resolveRemoteImages(repo, ref.digest ?? ref.tag ?? "latest", platforms);
  return { name: spec, source: repo, images, open: (d) => remoteOpener(repo, d), remote: registryOf(ref) };
}

/** A single-platform base answers every platform asked; refuse one built for another. */
function checkBasePlatform(base: Base, image: ResolvedImage, wanted: Platform | undefined): void {
  if (wanted === undefined) return;
  const found = configPlatform(image.config);
  if (!platformMatches(found, wanted)) {
    throw new Error(
      `base ${base.name} is ${formatPlatform(found)}, not ${formatPlatform(wanted)}; give a multi-platform base (an image index) or build for ${formatPlatform(found)}`,
    );
  }
}

/** Puts the base's layers into the sink, checking each against its digest on the way. */
async function copyBaseLayers(base: Base, image: ResolvedImage, sink: ImageSink): Promise<Descriptor[]> {
  const layers: Descriptor[] = [];
  for (const layer of image.manifest.layers) {
    const mediaType = normalizeLayerMediaType(layer.mediaType);
    const what = `base layer ${layer.digest}`;
    if (await sink.hasBlob(layer)) {
      // Already there (often the same layout, or another platform's): still read the base's copy so a
      // tampered one is caught.
      for await (const _ of base.source.streamBlob(layer)) {
        // draining verifies
      }
    } else {
      await writeBlob(sink, base.source.streamBlob(layer), { digest: layer.digest, size: layer.size, what });
    }
    layers.push({ mediaType, digest: layer.digest, size: layer.size });
  }
  return layers;
}

interface Built {
  platform: Platform;
  layers: Descriptor[];
  baseLayerCount: number;
  config: { bytes: Buffer; descriptor: Descriptor };
  manifest: { bytes: Buffer; descriptor: Descriptor };
}

export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const ref = parseReference(options.image);
  if (ref.digest !== undefined) {
    throw new Error(
      `image ${options.image} names a digest; give a repository with an optional tag to build into`,
    );
  }
  const wanted = parsePlatforms(options.platforms ?? []);
  const env = (options.provenance !== false ? options.provenance?.env : undefined) ?? process.env;
  // Checked before git runs, so a bad SOURCE_DATE_EPOCH or created fails without touching anything.
  resolveCreated(options.created, env.SOURCE_DATE_EPOCH);
  const placement = options.runtime ? runtimePlacement(options.runtime) : undefined;
  const pathInImage = options.modelPathInImage ?? placement?.modelPath ?? DEFAULT_MODEL_PATH;
  normalizeImagePath(pathInImage);
  checkLabels(options.labels ?? {});
  if (options.base !== undefined) checkBaseSpec(options.base);
  const tags = [...new Set([...(ref.tag !== undefined ? [ref.tag] : []), ...(options.tags ?? [])])];
  for (const tag of options.tags ?? []) parseReference(`${ref.name}:${tag}`);
  const provenance =
    options.provenance === false
      ? options.version !== undefined
        ? await resolveProvenance(options.modelDir, { env: {}, git: false, version: options.version })
        : {}
      : await resolveProvenance(options.modelDir, {
          ...options.provenance,
          ...(options.version !== undefined ? { version: options.version } : {}),
        });
  const created = resolveCreated(options.created, env.SOURCE_DATE_EPOCH, provenance.commitTime);
  // Labels given by the caller win over the ones read from the environment.
  const labels = { ...provenanceLabels(provenance), ...(options.labels ?? {}) };

  // A signal or SIGINT/SIGTERM cancels the build; the interrupt waits (a few seconds at most, as
  // child-cleanup allows) for the uploads in flight to cancel their sessions.
  const interrupt = new AbortController();
  const given = [options.signal, options.registry?.signal].filter((x): x is AbortSignal => x !== undefined);
  const signal = given.length > 0 ? AbortSignal.any([...given, interrupt.signal]) : interrupt.signal;
  let work: Promise<BuildReport> | undefined;
  const forgetInterrupt = options.push
    ? onInterrupt(async (name) => {
        options.registry?.log?.warn(`build interrupted by ${name}: cancelling the push`);
        interrupt.abort(new Error(`interrupted by ${name}`));
        await work?.catch(() => {});
      })
    : () => {};
  try {
    work = build(options, ref, signal, { wanted, placement, pathInImage, tags, provenance, created, labels });
    return await work;
  } finally {
    forgetInterrupt();
  }
}

interface Prepared {
  wanted: Platform[];
  placement: ReturnType<typeof runtimePlacement> | undefined;
  pathInImage: string;
  tags: string[];
  provenance: Awaited<ReturnType<typeof resolveProvenance>>;
  created: ReturnType<typeof resolveCreated>;
  labels: Record<string, string>;
}

async function build(
  options: BuildOptions,
  ref: ReturnType<typeof parseReference>,
  signal: AbortSignal,
  { wanted, placement, pathInImage, tags, provenance, created, labels }: Prepared,
): Promise<BuildReport> {
  let registries: Registries | undefined;
  const getRegistries = () => {
    registries ??= new Registries({ ...options.registry, signal });
    return registries;
  };
  let tempLayout: string | undefined;
  try {
    // The target is reached (and authenticated) before any work, so bad credentials fail fast.
    const target = options.push ? await getRegistries().repository(ref, true) : undefined;
    const base = options.base !== undefined ? await openBase(options.base, getRegistries, wanted) : undefined;
    const entries = await planModelLayer(options.modelDir, pathInImage);

    let layoutDir = options.ociLayout;
    if (layoutDir === undefined && target) {
      tempLayout = await mkdtemp(join(tmpdir(), "modelship-build-"));
      layoutDir = tempLayout;
    }
    const layout = layoutDir !== undefined ? await OciLayoutWriter.open(layoutDir) : undefined;
    const sink: ImageSink = layout ?? discardSink();
    // A layout asked for gets every blob (air-gapped use); a remote base pushed elsewhere is streamed
    // from its repository at push time instead of being copied to disk first. Base layers are copied
    // (and verified) before anything of ours is written, so a bad base leaves nothing behind.
    const copyBase = options.ociLayout !== undefined || !base?.remote;
    const targets: (Platform | undefined)[] = wanted.length > 0 ? wanted : [undefined];
    const bases: { image?: ResolvedImage; layers: Descriptor[] }[] = [];
    for (const [i, platform] of targets.entries()) {
      const image = base ? (base.images[i] ?? base.images[0]) : undefined;
      if (!base || !image) {
        bases.push({ layers: [] });
        continue;
      }
      checkBasePlatform(base, image, platform);
      const layers = copyBase
        ? await copyBaseLayers(base, image, sink)
        : image.manifest.layers.map((layer) => ({
            mediaType: normalizeLayerMediaType(layer.mediaType),
            digest: layer.digest,
            size: layer.size,
          }));
      bases.push({ image, layers });
    }
    // One model layer, whatever the platform: a model's bytes do not depend on the CPU.
    const modelLayer = await writeModelLayer(entries, created.date, sink);

    const built: Built[] = [];
    for (const [i, platform] of targets.entries()) {
      const { image: baseImage, layers: baseLayers } = bases[i] ?? { layers: [] };
      const config = appendLayerToConfig(
        baseImage?.config,
        baseLayers.length,
        // No source path here: the same model built from another directory must give the same digest.
        { diffId: modelLayer.digest, createdBy: `modelship build: model at ${pathInImage}` },
        created.iso,
        labels,
      );
      if (!baseImage && platform) {
        config.os = platform.os;
        config.architecture = platform.architecture;
        if (platform.variant !== undefined) config.variant = platform.variant;
      }
      if (placement) config.config = mergeRuntimeConfig(config.config, placement.config);
      const configBytes = canonicalJson(config);
      const configDescriptor = blobDescriptor(MEDIA_TYPE.config, configBytes);
      await writeBlob(sink, [configBytes], { ...configDescriptor, what: "image config" });

      const annotations: Record<string, string> = { [ANNOTATION.created]: created.iso };
      if (base && baseImage) {
        annotations[ANNOTATION.baseName] = base.name;
        annotations[ANNOTATION.baseDigest] = baseImage.descriptor.digest;
      }
      const layers = [...baseLayers, modelLayer];
      const manifestBytes = canonicalJson(buildManifest(configDescriptor, layers, annotations));
      built.push({
        platform: configPlatform(config),
        layers,
        baseLayerCount: baseLayers.length,
        config: { bytes: configBytes, descriptor: configDescriptor },
        manifest: { bytes: manifestBytes, descriptor: blobDescriptor(MEDIA_TYPE.manifest, manifestBytes) },
      });
    }

    const first = built[0] as Built;
    let top: { bytes: Buffer; descriptor: Descriptor } = first.manifest;
    if (built.length > 1) {
      // The platform manifests are blobs of the layout; only the index is named in index.json.
      for (const b of built)
        await writeBlob(sink, [b.manifest.bytes], { ...b.manifest.descriptor, what: "manifest" });
      const indexBytes = canonicalJson(
        buildIndex(
          built.map((b) => ({ ...b.manifest.descriptor, platform: b.platform })),
          { [ANNOTATION.created]: created.iso },
        ),
      );
      top = { bytes: indexBytes, descriptor: blobDescriptor(MEDIA_TYPE.index, indexBytes) };
    }
    await sink.putManifest(top.bytes, top.descriptor, ref.tag);

    const describe = (layers: Descriptor[]) =>
      layers.map(({ digest, size, mediaType }) => ({ digest, size, mediaType }));
    const report: BuildReport = {
      image: `${ref.name}@${top.descriptor.digest}`,
      digest: top.descriptor.digest,
      mediaType: top.descriptor.mediaType,
      configDigest: first.config.descriptor.digest,
      layers: describe(first.layers),
      platforms: built.map((b) => ({
        platform: formatPlatform(b.platform),
        digest: b.manifest.descriptor.digest,
        configDigest: b.config.descriptor.digest,
        layers: describe(b.layers),
      })),
      labels: { ...provenanceLabels(provenance), [ANNOTATION.created]: created.iso },
      created: created.iso,
      tags: [],
    };
    if (ref.tag !== undefined) report.tag = ref.tag;
    if (options.ociLayout !== undefined) report.ociLayout = options.ociLayout;

    if (target && layout) {
      const sameRegistry = base?.remote !== undefined && base.remote.host === target.client.host;
      const blobs: PushBlob[] = [];
      for (const b of built) {
        for (const [i, descriptor] of b.layers.entries()) {
          const fromBase = base !== undefined && i < b.baseLayerCount;
          const onDisk = !fromBase || copyBase;
          const blob: PushBlob = {
            descriptor,
            open: onDisk || !base ? fileOpener(layout.blobPath(descriptor.digest)) : base.open(descriptor),
          };
          if (fromBase && sameRegistry && base?.remote) blob.mountFrom = base.remote.repository;
          blobs.push(blob);
        }
        blobs.push({
          descriptor: b.config.descriptor,
          open: fileOpener(layout.blobPath(b.config.descriptor.digest)),
        });
      }
      const pushOptions: PushOptions = { signal };
      if (options.registry?.chunkSize !== undefined) pushOptions.chunkSize = options.registry.chunkSize;
      if (built.length > 1) pushOptions.children = built.map((b) => b.manifest);
      const where = { registry: target.client.host, repository: target.name };
      try {
        const { tagUpdates, ...pushed } = await pushImage(target, blobs, top, tags, pushOptions);
        report.tags = tagsAtDigest(tagUpdates);
        report.tagUpdates = tagUpdates;
        report.pushed = { ...pushed, ...where };
      } catch (err) {
        if (err instanceof PushError) {
          // What the registry has now, for the CLI's --json, the action's outputs and summary.
          report.tags = tagsAtDigest(err.tags);
          report.tagUpdates = err.tags;
          report.pushed = { ...err.result, ...where };
          err.report = report;
        }
        throw err;
      }
    }
    return report;
  } finally {
    await registries?.close();
    if (tempLayout !== undefined) await rm(tempLayout, { recursive: true, force: true });
  }
}
