// Push of a 1 GiB model layer to a local registry (CNCF distribution), against `skopeo copy` of the
// same image from the same OCI layout, in the same run; then a re-push of the unchanged image.
// Run: npx tsx -e 'import("./bench/push.ts").then(m => m.run())'

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildImage } from "../src/image/build.js";
import { OciLayoutReader } from "../src/image/layout.js";
import { fileOpener, type PushResult, pushImage, Registries } from "../src/image/remote.js";
import { markdownTable } from "../src/util/table.js";
import { startRegistry } from "../test/support/registry.js";

const run$ = promisify(execFile);
const LAYER_BYTES = Number(process.env.MODELSHIP_BENCH_PUSH_BYTES ?? 1 << 30);

async function writeModel(dir: string, bytes: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const handle = await open(join(dir, "weights.bin"), "w");
  // Random bytes, so no layer of the comparison can win by compressing.
  const block = randomBytes(8 << 20);
  try {
    for (let written = 0; written < bytes; written += block.length) {
      await handle.write(block, 0, Math.min(block.length, bytes - written));
      block.writeUInt32LE(written >>> 0, 0);
    }
  } finally {
    await handle.close();
  }
}

/** Peak resident memory while `fn` runs, sampled every 20 ms. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRss: number; ms: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const start = performance.now();
  try {
    const value = await fn();
    return { value, peakRss: Math.max(peak, process.memoryUsage().rss), ms: performance.now() - start };
  } finally {
    clearInterval(timer);
  }
}

const mib = (n: number) => `${(n / (1 << 20)).toFixed(0)} MiB`;

export async function run(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "modelship-bench-push-"));
  const registry = await startRegistry();
  const registries = new Registries({ insecureRegistries: [registry.host] });
  try {
    const modelDir = join(work, "model");
    await writeModel(modelDir, LAYER_BYTES);
    const layoutDir = join(work, "layout");
    const built = await buildImage({
      modelDir,
      image: `${registry.host}/bench/ours:v1`,
      ociLayout: layoutDir,
    });
    const reader = await OciLayoutReader.open(layoutDir);
    const image = await reader.resolveImage("v1");
    const manifest = await reader.readBlob(image.descriptor, 1 << 20);
    const blobs = [...image.manifest.layers, image.manifest.config].map((descriptor) => ({
      descriptor,
      open: fileOpener(reader.blobPath(descriptor.digest)),
    }));
    const repo = await registries.repository(`${registry.host}/bench/ours`, true);
    const push = () => pushImage(repo, blobs, { bytes: manifest, descriptor: image.descriptor }, ["v1"]);

    const rssBefore = process.memoryUsage().rss;
    const ours = await withPeakRss<PushResult>(push);
    const skopeoStart = performance.now();
    await run$("skopeo", [
      "copy",
      "--quiet",
      "--preserve-digests",
      "--dest-tls-verify=false",
      `oci:${layoutDir}:v1`,
      `docker://${registry.host}/bench/skopeo:v1`,
    ]);
    const skopeoMs = performance.now() - skopeoStart;
    const { stdout } = await run$("skopeo", [
      "inspect",
      "--tls-verify=false",
      `docker://${registry.host}/bench/skopeo:v1`,
    ]);
    const sameDigest = (JSON.parse(stdout) as { Digest: string }).Digest === built.digest;
    const again = await withPeakRss<PushResult>(push);

    const ratio = ours.ms / skopeoMs;
    const rows = [
      ["modelship push", `${(ours.ms / 1000).toFixed(2)} s`, `${ours.value.uploaded}`, mib(ours.peakRss)],
      ["skopeo copy oci: → docker://", `${(skopeoMs / 1000).toFixed(2)} s`, "2", "(separate process)"],
      [
        "modelship re-push (unchanged)",
        `${(again.ms / 1000).toFixed(3)} s`,
        `${again.value.uploaded}`,
        mib(again.peakRss),
      ],
    ];
    process.stdout.write(
      `\nImage push: ${mib(LAYER_BYTES)} model layer, local registry (${registry.host})\n`,
    );
    process.stdout.write(markdownTable(["what", "time", "blobs uploaded", "peak RSS"], rows));
    process.stdout.write(
      `\nratio modelship/skopeo: ${ratio.toFixed(2)}× (target ≤ 1.2×) ${ratio <= 1.2 ? "✔" : "✘"}\n` +
        `RSS before push ${mib(rssBefore)}, peak during push ${mib(ours.peakRss)} (layer ${mib(LAYER_BYTES)})\n` +
        `re-push: ${again.value.uploaded} blobs uploaded, ${(again.ms / 1000).toFixed(3)} s (target < 0.5 s) ${again.value.uploaded === 0 && again.ms < 500 ? "✔" : "✘"}\n` +
        `skopeo's copy has the same manifest digest: ${sameDigest ? "yes" : "NO"}\n`,
    );
  } finally {
    await registries.close();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}
