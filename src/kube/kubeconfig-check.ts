// kubectl reads the kubeconfig itself, and waits forever on a FIFO there, or reads /dev/zero until
// it has eaten the machine's memory (9 GB in 20 s, measured). So the files it will read are
// checked first, once per Kubectl: each must be a regular file of a sane size.
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { FileReadError, openRegularFile } from "../util/regular-file.js";

// A kubeconfig is a few KiB; one with many clusters and embedded certificates a few hundred.
export const MAX_KUBECONFIG_BYTES = 16 * 1024 * 1024;

/** Where kubectl will read its config from: `--kubeconfig`, else each file in KUBECONFIG, else ~/.kube/config. */
function kubeconfigFiles(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
): { path: string; from: string }[] {
  if (explicit) return [{ path: explicit, from: "target.kubeconfig" }];
  const list = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (list.length > 0) return list.map((path) => ({ path, from: "KUBECONFIG" }));
  return [{ path: join(env.HOME || homedir(), ".kube", "config"), from: "the default location" }];
}

/**
 * Fails, naming the file and where its path came from, when a kubeconfig kubectl would read is not
 * a regular file or is too large. A file that does not exist is left to kubectl to report (it
 * skips missing KUBECONFIG entries, and says so for --kubeconfig).
 */
export async function checkKubeconfigFiles(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  for (const { path, from } of kubeconfigFiles(explicit, env)) {
    let size: number;
    try {
      const opened = await openRegularFile(path, `kubeconfig (${from})`);
      size = opened.size;
      await opened.handle.close();
    } catch (error) {
      if (error instanceof FileReadError && error.code === "ENOENT") continue;
      throw new Error(
        `${(error as Error).message}; kubectl cannot read it. Fix: point ${from} at a kubeconfig file`,
      );
    }
    if (size > MAX_KUBECONFIG_BYTES) {
      throw new Error(
        `kubeconfig (${from}) ${path} is larger than the ${MAX_KUBECONFIG_BYTES} bytes allowed (${size} bytes). Fix: point ${from} at a kubeconfig file`,
      );
    }
  }
}
