// build: the model as a layer on a base image (or alone, like a KServe modelcar), reproducibly, written
// to an OCI image layout. The reference, options, base metadata and model tree are all checked before the
// first byte is written; base layers are verified as they are copied.
import { type Descriptor, discardSink, type ImageSink, writeBlob } from "./blob.js";
import { DEFAULT_MODEL_PATH, normalizeImagePath, planModelLayer, writeModelLayer } from "./layer.js";
import { OciLayoutReader, OciLayoutWriter, parseBaseSpec, type ResolvedImage } from "./layout.js";
import {
  ANNOTATION,
  appendLayerToConfig,
  blobDescriptor,
  buildManifest,
  canonicalJson,
  MEDIA_TYPE,
  normalizeLayerMediaType,
  resolveCreated,
} from "./manifest.js";
import { parseReference } from "./reference.js";

export interface BuildOptions {
  /** A directory or a single model file. */
  modelDir: string;
  /** Where the image is meant to live, e.g. "localhost:5000/iris:v2"; the tag names it in the layout. */
  image: string;
  /** "oci:DIR" or "oci:DIR:TAG"; omitted → a model-only image with an empty base. */
  base?: string;
  /** Write the result as an OCI image layout into this directory; omitted → digests only. */
  ociLayout?: string;
  /** Default "/models/model". */
  modelPathInImage?: string;
  labels?: Record<string, string>;
  /** ISO time; default SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z. */
  created?: string;
}

export interface BuildReport {
  /** repository@sha256:… */
  image: string;
  tag?: string;
  digest: string;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string }[];
  ociLayout?: string;
}

interface Base {
  name: string;
  source: OciLayoutReader;
  image: ResolvedImage;
}

function checkLabels(labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels)) {
    if (key.length === 0 || /[\s\0]/.test(key))
      throw new Error(`label key ${JSON.stringify(key)} is empty or has whitespace`);
    if (typeof value !== "string") throw new Error(`label ${key} must be a string`);
  }
}

async function openBase(spec: string): Promise<Base> {
  const { dir, tag } = parseBaseSpec(spec);
  const source = await OciLayoutReader.open(dir);
  const image = await source.resolveImage(tag);
  return { name: spec, source, image };
}

/** Puts the base's layers into the sink, checking each against its digest on the way. */
async function copyBaseLayers(base: Base, sink: ImageSink): Promise<Descriptor[]> {
  const layers: Descriptor[] = [];
  for (const layer of base.image.manifest.layers) {
    const mediaType = normalizeLayerMediaType(layer.mediaType);
    const what = `base layer ${layer.digest}`;
    if (await sink.hasBlob(layer)) {
      // Already there (often the same layout): still read the base's copy so a tampered one is caught.
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

export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const ref = parseReference(options.image);
  if (ref.digest !== undefined) {
    throw new Error(
      `image ${options.image} names a digest; give a repository with an optional tag to build into`,
    );
  }
  const created = resolveCreated(options.created, process.env.SOURCE_DATE_EPOCH);
  const pathInImage = options.modelPathInImage ?? DEFAULT_MODEL_PATH;
  normalizeImagePath(pathInImage);
  const labels = options.labels ?? {};
  checkLabels(labels);

  const base = options.base !== undefined ? await openBase(options.base) : undefined;
  const entries = await planModelLayer(options.modelDir, pathInImage);

  const sink =
    options.ociLayout !== undefined ? await OciLayoutWriter.open(options.ociLayout) : discardSink();
  const baseLayers = base ? await copyBaseLayers(base, sink) : [];
  const modelLayer = await writeModelLayer(entries, created.date, sink);

  const config = appendLayerToConfig(
    base?.image.config,
    baseLayers.length,
    // No source path here: the same model built from another directory must give the same digest.
    { diffId: modelLayer.digest, createdBy: `modelship build: model at ${pathInImage}` },
    created.iso,
    labels,
  );
  const configBytes = canonicalJson(config);
  const configDescriptor = blobDescriptor(MEDIA_TYPE.config, configBytes);
  await writeBlob(sink, [configBytes], { ...configDescriptor, what: "image config" });

  const annotations: Record<string, string> = { [ANNOTATION.created]: created.iso };
  if (base) {
    annotations[ANNOTATION.baseName] = base.name;
    annotations[ANNOTATION.baseDigest] = base.image.descriptor.digest;
  }
  const layers = [...baseLayers, modelLayer];
  const manifestBytes = canonicalJson(buildManifest(configDescriptor, layers, annotations));
  const manifestDescriptor = blobDescriptor(MEDIA_TYPE.manifest, manifestBytes);
  await sink.putManifest(manifestBytes, manifestDescriptor, ref.tag);

  const report: BuildReport = {
    image: `${ref.name}@${manifestDescriptor.digest}`,
    digest: manifestDescriptor.digest,
    configDigest: configDescriptor.digest,
    layers: layers.map(({ digest, size, mediaType }) => ({ digest, size, mediaType })),
  };
  if (ref.tag !== undefined) report.tag = ref.tag;
  if (options.ociLayout !== undefined) report.ociLayout = options.ociLayout;
  return report;
}
