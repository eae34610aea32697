// builder docker against a RECORDED CONTRACT of the docker CLI, not a real engine (none can run here):
// a fake `docker` executable, put first on PATH by this test, records the argv and environment it was
// started with and answers as `docker buildx build --push --metadata-file F` does (docs.docker.com,
// buildx build --metadata-file): it writes the metadata JSON with containerimage.digest, or fails with
// BuildKit's "ERROR: failed to solve" on stderr. What is checked is our side of that contract: the argv
// (an array, no shell), the build argument, labels, platforms, SOURCE_DATE_EPOCH and the digest read back.

import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildStage } from "../../src/image/stage.js";
import { collect, model as irisModel, REPO } from "./helpers.js";

const FAKE_DOCKER = `#!${process.execPath}
// Recorded contract of docker buildx build --push --metadata-file (buildx v0.12 output format).
const { writeFileSync, appendFileSync } = require("node:fs");
const { createHash } = require("node:crypto");
const argv = process.argv.slice(2);
appendFileSync(process.env.FAKE_DOCKER_RECORD, JSON.stringify({ argv, sourceDateEpoch: process.env.SOURCE_DATE_EPOCH ?? null }) + "\\n");
if (argv[0] !== "buildx" || argv[1] !== "build") {
  process.stderr.write("docker: unknown command: docker " + argv.join(" ") + "\\n");
  process.exit(1);
}
if (process.env.FAKE_DOCKER_MODE === "fail") {
  process.stderr.write("#5 [2/3] COPY models/iris /models\\nERROR: failed to solve: failed to compute cache key: \\"/models/iris\\" not found\\n");
  process.exit(1);
}
const at = argv.indexOf("--metadata-file");
if (!argv.includes("--push") || at < 0) { process.stderr.write("ERROR: no --push or --metadata-file\\n"); process.exit(1); }
const tags = argv.flatMap((a, i) => (argv[i - 1] === "--tag" ? [a] : []));
const digest = "sha256:" + createHash("sha256").update(tags.join(",")).digest("hex");
const metadata = process.env.FAKE_DOCKER_MODE === "no-digest" ? { "buildx.build.ref": "default/default/x" } : {
  "buildx.build.ref": "default/default/q4z7v1c2",
  "containerimage.config.digest": "sha256:" + "c".repeat(64),
  "containerimage.descriptor": { mediaType: "application/vnd.oci.image.index.v1+json", digest, size: 1609 },
  "containerimage.digest": digest,
  "image.name": tags.join(","),
};
writeFileSync(argv[at + 1], JSON.stringify(metadata, null, 2));
process.stderr.write("#12 pushing manifest for " + tags[0] + "@" + digest + " done\\n");
`;

let work: string;
let fakeBin: string;
let record: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-docker-contract-"));
  fakeBin = join(work, "bin");
  await mkdir(fakeBin);
  await writeFile(join(fakeBin, "docker"), FAKE_DOCKER);
  await chmod(join(fakeBin, "docker"), 0o755);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  record = join(work, `record-${Math.random().toString(36).slice(2)}.jsonl`);
  await writeFile(record, "");
  vi.stubEnv("PATH", `${fakeBin}${delimiter}${process.env.PATH ?? ""}`);
  vi.stubEnv("FAKE_DOCKER_RECORD", record);
  vi.stubEnv("FAKE_DOCKER_MODE", "");
  for (const name of ["GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "SOURCE_DATE_EPOCH"])
    vi.stubEnv(name, "");
  return () => vi.unstubAllEnvs();
});

const calls = async () =>
  (await readFile(record, "utf8"))
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { argv: string[]; sourceDateEpoch: string | null });

/** The value after each occurrence of a flag. */
const valuesOf = (argv: string[], flag: string) => argv.flatMap((a, i) => (argv[i - 1] === flag ? [a] : []));

async function contextWithModel(): Promise<{ context: string; modelDir: string }> {
  const context = await mkdtemp(join(work, "ctx-"));
  const modelDir = join(context, "models", "iris");
  await mkdir(modelDir, { recursive: true });
  await writeFile(join(modelDir, "model.onnx"), "weights");
  await writeFile(
    join(context, "Dockerfile"),
    "FROM scratch\nARG MODELSHIP_MODEL\nCOPY $MODELSHIP_MODEL /models\n",
  );
  return { context, modelDir };
}

describe("builder docker: recorded contract of the docker CLI (fake docker on PATH, no engine)", () => {
  it("runs docker buildx build --push with tags, platforms, the model's path, labels and SOURCE_DATE_EPOCH", async () => {
    const { context, modelDir } = await contextWithModel();
    vi.stubEnv("SOURCE_DATE_EPOCH", "1700000000");
    vi.stubEnv("GITHUB_REPOSITORY", "acme/iris");
    vi.stubEnv("GITHUB_SHA", "d".repeat(40));
    const report = await buildStage({
      builder: "docker",
      modelDir,
      image: "ghcr.io/acme/iris:v2",
      tags: ["latest"],
      context,
      dockerfile: join(context, "Dockerfile"),
      platforms: ["linux/amd64", "linux/arm64"],
      cacheFrom: ["type=gha"],
      cacheTo: ["type=gha,mode=max"],
      labels: { "io.modelship.model.format": "onnx" },
    });
    const [call, ...more] = await calls();
    expect(more).toEqual([]);
    const argv = call?.argv ?? [];
    expect(argv.slice(0, 3)).toEqual(["buildx", "build", "--push"]);
    expect(valuesOf(argv, "--tag")).toEqual(["ghcr.io/acme/iris:v2", "ghcr.io/acme/iris:latest"]);
    expect(valuesOf(argv, "--platform")).toEqual(["linux/amd64,linux/arm64"]);
    expect(valuesOf(argv, "--file")).toEqual([join(context, "Dockerfile")]);
    expect(valuesOf(argv, "--build-arg")).toEqual(["MODELSHIP_MODEL=models/iris"]);
    expect(valuesOf(argv, "--label")).toEqual(
      expect.arrayContaining([
        "org.opencontainers.image.source=https://github.com/acme/iris",
        `org.opencontainers.image.revision=${"d".repeat(40)}`,
        "org.opencontainers.image.created=2023-11-14T22:13:20Z",
        "io.modelship.model.format=onnx",
      ]),
    );
    expect(valuesOf(argv, "--cache-from")).toEqual(["type=gha"]);
    expect(valuesOf(argv, "--cache-to")).toEqual(["type=gha,mode=max"]);
    expect(argv.slice(-2)).toEqual(["--", context]);
    expect(call?.sourceDateEpoch).toBe("1700000000");

    expect(report.builder).toBe("docker");
    expect(report.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(report.image).toBe(`ghcr.io/acme/iris@${report.digest}`);
    expect(report.tags).toEqual(["v2", "latest"]);
  });

  it("gives docker the cache credentials but keeps them out of the log and the report", async () => {
    const { context, modelDir } = await contextWithModel();
    const logged: string[] = [];
    const log = { info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: () => {} };
    const report = await buildStage({
      builder: "docker",
      modelDir,
      image: "reg.example/iris:v1",
      context,
      cacheTo: ["type=gha,token=ghs_secret123,mode=max"],
      registry: { log },
    });
    expect(valuesOf((await calls())[0]?.argv ?? [], "--cache-to")).toEqual([
      "type=gha,token=ghs_secret123,mode=max",
    ]);
    expect(logged.join("\n")).toContain("type=gha,token=***,mode=max");
    expect(JSON.stringify(report)).toContain("type=gha,token=***,mode=max");
    expect(`${logged.join("\n")}${JSON.stringify(report)}`).not.toContain("ghs_secret123");
  });

  it("passes hostile-looking values as single arguments, never through a shell", async () => {
    const { context, modelDir } = await contextWithModel();
    const marker = join(work, "pwned");
    await buildStage({
      builder: "docker",
      modelDir,
      image: "reg.example/iris:v1",
      context,
      labels: { note: `$(touch ${marker}); \`touch ${marker}\`` },
    });
    const argv = (await calls())[0]?.argv ?? [];
    expect(argv).toContain(`note=$(touch ${marker}); \`touch ${marker}\``);
    await expect(readFile(marker)).rejects.toThrow(/ENOENT/);
  });

  it("reports docker's failure with the end of its output, and a metadata file without a digest", async () => {
    const { context, modelDir } = await contextWithModel();
    const options = { builder: "docker" as const, modelDir, image: "reg.example/iris:v1", context };
    vi.stubEnv("FAKE_DOCKER_MODE", "fail");
    await expect(buildStage(options)).rejects.toThrow(/exit 1[\s\S]*ERROR: failed to solve/);
    vi.stubEnv("FAKE_DOCKER_MODE", "no-digest");
    await expect(buildStage(options)).rejects.toThrow(/no valid containerimage.digest/);
  });

  it("refuses before running docker: a model outside the context, daemonless-only options, no docker on PATH", async () => {
    const { context } = await contextWithModel();
    const outside = await mkdtemp(join(work, "outside-"));
    const base = { builder: "docker" as const, image: "reg.example/iris:v1", context };
    await expect(buildStage({ ...base, modelDir: outside })).rejects.toThrow(/inside the build context/);
    await expect(
      buildStage({ ...base, modelDir: join(context, "models"), base: "ghcr.io/x/y:1" }),
    ).rejects.toThrow(/base applies to the daemonless builder/);
    await expect(
      buildStage({ ...base, modelDir: join(context, "models"), runtime: { preset: "triton" } }),
    ).rejects.toThrow(/runtime applies to the daemonless builder/);
    await expect(
      buildStage({
        modelDir: join(context, "models"),
        image: "reg.example/iris:v1",
        dockerfile: "Dockerfile",
      }),
    ).rejects.toThrow(/builder docker only/);
    await expect(
      buildStage({ ...base, modelDir: join(context, "models"), dockerfile: join(context, "Nope") }),
    ).rejects.toThrow(/Dockerfile .*Nope is not a file/);
    expect(await calls()).toEqual([]);
    vi.stubEnv("PATH", join(work, "empty"));
    await expect(buildStage({ ...base, modelDir: join(context, "models") })).rejects.toThrow(
      /docker was not found on PATH/,
    );
  });

  it("CLI: modelship build --builder docker --dockerfile F runs the fake docker and prints the digest", async () => {
    const dockerfile = join(work, "Dockerfile.serve");
    await writeFile(dockerfile, "FROM scratch\n");
    const child = spawn(
      process.execPath,
      [
        "--import",
        join(REPO, "node_modules", "tsx", "dist", "loader.mjs"),
        join(REPO, "src", "bin.ts"),
        "build",
        "--builder",
        "docker",
        "--dockerfile",
        dockerfile,
        "--context",
        REPO,
        "--model",
        irisModel("v2"),
        "--image",
        "ghcr.io/acme/iris:v2",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "--json",
      ],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
    );
    const result = await collect(child);
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    const argv = (await calls())[0]?.argv ?? [];
    expect(valuesOf(argv, "--platform")).toEqual(["linux/amd64,linux/arm64"]);
    expect(valuesOf(argv, "--file")).toEqual([dockerfile]);
    expect(valuesOf(argv, "--build-arg")).toEqual(["MODELSHIP_MODEL=examples/iris/models/v2"]);
    expect(valuesOf(argv, "--label")).toEqual(
      expect.arrayContaining([expect.stringMatching(/^io\.modelship\.model\.digest=sha256:[a-f0-9]{64}$/)]),
    );
    expect(report).toMatchObject({
      builder: "docker",
      image: `ghcr.io/acme/iris@${report.digest}`,
      tags: ["v2"],
    });

    const bad = await collect(
      spawn(
        process.execPath,
        [
          "--import",
          join(REPO, "node_modules", "tsx", "dist", "loader.mjs"),
          join(REPO, "src", "bin.ts"),
          "build",
          "--builder",
          "kaniko",
          "--model",
          irisModel("v2"),
          "--image",
          "ghcr.io/acme/iris:v2",
        ],
        { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
      ),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--builder must be daemonless or docker/);
  });
});
