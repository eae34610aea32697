import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Runs `body` with an action's kubeconfig input as KUBECONFIG: written to a file only this user
 * can read, under the runner's temp directory, and removed afterwards whatever happens. Without
 * the input, KUBECONFIG (or target.kubeconfig, which wins) is used as it is.
 */
export async function withKubeconfig<T>(content: string | undefined, body: () => Promise<T>): Promise<T> {
  if (content === undefined) return body();
  const file = join(
    process.env.RUNNER_TEMP ?? tmpdir(),
    `modelship-kubeconfig-${randomBytes(6).toString("hex")}`,
  );
  await writeFile(file, content, { mode: 0o600, flag: "wx" });
  const previous = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  try {
    return await body();
  } finally {
    if (previous === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previous;
    await rm(file, { force: true });
  }
}
