// Validation speed and memory on a large file: a 2 GiB safetensors file (generated here, in a temp dir)
// validated by `modelship validate`'s core, against `sha256sum` on the same file in the same run.
// Each side runs in its own process so peak RSS is the validator's own; the page cache is warmed first.
//   npx tsx -e 'import("./bench/validate.ts").then(m => m.run())'
import { spawn } from "node:child_process";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { textTable } from "../src/util/table.js";

const SIZE = 2 * 1024 ** 3;
const ROUNDS = 3;

/** A valid safetensors file of about `bytes` bytes: F32 tensors of 64 MiB each, non-zero data. */
async function writeSafetensors(path: string, bytes: number): Promise<void> {
  const tensorBytes = 64 * 1024 * 1024;
  const count = Math.floor(bytes / tensorBytes);
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  for (let i = 0; i < count; i++) {
    header[`layer.${i}.weight`] = {
      dtype: "F32",
      shape: [tensorBytes / 4],
      data_offsets: [i * tensorBytes, (i + 1) * tensorBytes],
    };
  }
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const chunk = Buffer.alloc(tensorBytes);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const file = await open(path, "w");
  try {
    await file.write(Buffer.concat([prefix, json]));
    for (let i = 0; i < count; i++) await file.write(chunk);
  } finally {
    await file.close();
  }
}

interface Sample {
  seconds: number;
  maxRssMb: number;
  output: string;
}

function runProcess(command: string, args: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${command} exited with ${code}`));
      else resolve({ seconds, maxRssMb: 0, output });
    });
  });
}

/** Child mode: validate one path and print the report summary plus this process's peak RSS. */
async function child(path: string): Promise<void> {
  const { validateModel } = await import("../src/model/validate.js");
  const started = process.hrtime.bigint();
  const report = await validateModel(path);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(
    JSON.stringify({
      accepted: report.accepted,
      format: report.format,
      sha256: report.files[0]?.sha256,
      seconds,
      maxRssKb: process.resourceUsage().maxRSS,
    }),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-bench-validate-"));
  try {
    const file = join(dir, "model.safetensors");
    await writeSafetensors(file, SIZE);
    const self = fileURLToPath(import.meta.url);
    await runProcess("sha256sum", [file]); // warm the page cache
    const sha: number[] = [];
    const validate: { wall: number; inner: number; rssMb: number }[] = [];
    let shaHex = "";
    let validated: { accepted: boolean; format: string; sha256: string } | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const s = await runProcess("sha256sum", [file]);
      sha.push(s.seconds);
      shaHex = s.output.split(" ")[0] ?? "";
      const v = await runProcess(process.execPath, ["--import", "tsx", self, "--child", file]);
      const parsed = JSON.parse(v.output) as {
        accepted: boolean;
        format: string;
        sha256: string;
        seconds: number;
        maxRssKb: number;
      };
      validated = parsed;
      validate.push({ wall: v.seconds, inner: parsed.seconds, rssMb: parsed.maxRssKb / 1024 });
    }
    if (!validated?.accepted || validated.sha256 !== shaHex) {
      throw new Error(`validation disagreed with sha256sum: ${JSON.stringify(validated)} vs ${shaHex}`);
    }
    // The same child on a 1-byte file: what Node + tsx + the modules cost before any streaming.
    await writeFile(join(dir, "tiny"), "x");
    const idle = JSON.parse(
      (await runProcess(process.execPath, ["--import", "tsx", self, "--child", join(dir, "tiny")])).output,
    ) as {
      maxRssKb: number;
    };
    const shaS = median(sha);
    const wallS = median(validate.map((v) => v.wall));
    const innerS = median(validate.map((v) => v.inner));
    const rss = Math.max(...validate.map((v) => v.rssMb));
    console.log(
      `validate a ${(SIZE / 1024 ** 3).toFixed(0)} GiB safetensors file (median of ${ROUNDS}, page cache warm)\n`,
    );
    console.log(
      textTable(
        ["tool", "seconds", "GiB/s", "peak RSS MB", "ratio to sha256sum"],
        [
          ["sha256sum", shaS.toFixed(2), (SIZE / 1024 ** 3 / shaS).toFixed(2), "–", "1.00"],
          [
            "modelship validate (process)",
            wallS.toFixed(2),
            (SIZE / 1024 ** 3 / wallS).toFixed(2),
            rss.toFixed(0),
            (wallS / shaS).toFixed(2),
          ],
          [
            "validateModel (in process)",
            innerS.toFixed(2),
            (SIZE / 1024 ** 3 / innerS).toFixed(2),
            "",
            (innerS / shaS).toFixed(2),
          ],
          ["same process on a 1-byte file", "–", "–", (idle.maxRssKb / 1024).toFixed(0), "–"],
        ],
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--child" && process.argv[3]) {
  await child(process.argv[3]);
}
