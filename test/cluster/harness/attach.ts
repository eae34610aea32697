// A small controller that `up` runs beside kwok: it lets a fake pod stand for a process on this
// machine. kwok answers `kubectl port-forward` and `kubectl logs` from PortForward and Logs
// objects named after the pod; this watches pods and writes those objects from two annotations,
// so that a pod template (a Deployment's, say) can carry them:
//
//   modelship.test/port-forward: "8080=43123,9090=43124"   pod port -> 127.0.0.1 port
//   modelship.test/port-forward: "43123"                   every pod port -> 127.0.0.1:43123
//   modelship.test/logs-file: /abs/path/server.log          a CRI-format log file (every container)
//
// The objects are owned by the pod, so the garbage collector removes them with it. Once they
// exist, the pod is annotated ATTACHED_ANNOTATION, and only then does kwok's pod-ready Stage make
// it Ready: whoever waits for the rollout can port-forward straight away.
//
//   node --import tsx attach.ts --dir DIR --server URL
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PORT_FORWARD_ANNOTATION = "modelship.test/port-forward";
export const LOGS_FILE_ANNOTATION = "modelship.test/logs-file";
export const ATTACHED_ANNOTATION = "modelship.test/attached";
const FIELD_MANAGER = "modelship-test-attach";

interface Pod {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
}

interface Forward {
  ports?: number[];
  target: { address: string; port: number };
}

/** Parses the port-forward annotation; throws on anything but PORT or POD_PORT=LOCAL_PORT pairs. */
export function parseForwards(value: string): Forward[] {
  return value.split(",").map((part) => {
    const match = /^\s*(?:(\d+)=)?(\d+)\s*$/.exec(part);
    if (!match)
      throw new Error(`${PORT_FORWARD_ANNOTATION}: "${part}" is neither PORT nor POD_PORT=LOCAL_PORT`);
    const target = { address: "127.0.0.1", port: Number(match[2]) };
    return match[1] ? { ports: [Number(match[1])], target } : { target };
  });
}

/** The kwok objects a pod's annotations ask for (none when it has neither annotation). */
export function objectsFor(pod: Pod): object[] {
  const { name, namespace, uid, annotations = {} } = pod.metadata;
  const metadata = {
    name,
    namespace,
    ownerReferences: [{ apiVersion: "v1", kind: "Pod", name, uid }],
  };
  const objects: object[] = [];
  const forwards = annotations[PORT_FORWARD_ANNOTATION];
  if (forwards) {
    objects.push({
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "PortForward",
      metadata,
      spec: { forwards: parseForwards(forwards) },
    });
  }
  const logsFile = annotations[LOGS_FILE_ANNOTATION];
  if (logsFile) {
    objects.push({
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "Logs",
      metadata,
      spec: { logs: [{ logsFile, previousLogsFile: logsFile, follow: true }] },
    });
  }
  return objects;
}

class Api {
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer };
  constructor(
    private readonly server: string,
    pkiDir: string,
  ) {
    this.tls = {
      ca: readFileSync(join(pkiDir, "ca.crt")),
      cert: readFileSync(join(pkiDir, "admin.crt")),
      key: readFileSync(join(pkiDir, "admin.key")),
    };
  }

  /** One request; `onData` gets the body as it streams (watches), else it is returned whole. */
  call(
    method: string,
    path: string,
    body?: { type: string; text: string },
    onData?: (chunk: string) => void,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = body ? { "content-type": body.type } : {};
      const req = request(`${this.server}${path}`, { method, headers, ...this.tls }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (onData) onData(chunk);
          else text += chunk;
        });
        res.on("end", () => {
          if ((res.statusCode ?? 500) >= 300)
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(text);
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body?.text);
    });
  }

  async apply(object: { kind: string; metadata: { name: string; namespace: string } }): Promise<void> {
    const plural = object.kind === "PortForward" ? "portforwards" : "logs";
    const { namespace, name } = object.metadata;
    const path = `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/${plural}/${name}?fieldManager=${FIELD_MANAGER}&force=true`;
    await this.call("PATCH", path, { type: "application/apply-patch+yaml", text: JSON.stringify(object) });
  }

  async markAttached(pod: Pod): Promise<void> {
    const { namespace, name } = pod.metadata;
    const patch = { metadata: { annotations: { [ATTACHED_ANNOTATION]: "true" } } };
    await this.call("PATCH", `/api/v1/namespaces/${namespace}/pods/${name}`, {
      type: "application/merge-patch+json",
      text: JSON.stringify(patch),
    });
  }
}

async function handle(api: Api, pod: Pod, done: Set<string>): Promise<void> {
  // Once per pod and annotation values: an annotation added or changed later is acted on too.
  const annotations = pod.metadata.annotations ?? {};
  const key = [
    pod.metadata.uid,
    annotations[PORT_FORWARD_ANNOTATION],
    annotations[LOGS_FILE_ANNOTATION],
  ].join(" ");
  if (done.has(key)) return;
  let objects: object[];
  try {
    objects = objectsFor(pod);
  } catch (error) {
    console.error(`${pod.metadata.namespace}/${pod.metadata.name}: ${(error as Error).message}`);
    done.add(key);
    return;
  }
  for (const object of objects) await api.apply(object as Parameters<Api["apply"]>[0]);
  if (objects.length > 0) {
    await api.markAttached(pod);
    console.error(`attached ${pod.metadata.namespace}/${pod.metadata.name}`);
  }
  done.add(key);
}

async function run(dir: string, server: string): Promise<void> {
  const api = new Api(server, join(dir, "pki"));
  const done = new Set<string>();
  let announced = false;
  for (;;) {
    try {
      const list = JSON.parse(await api.call("GET", "/api/v1/pods")) as {
        items: Pod[];
        metadata: { resourceVersion: string };
      };
      for (const pod of list.items) await handle(api, pod, done);
      if (!announced) writeFileSync(join(dir, "attach.ready"), `${process.pid}\n`);
      announced = true;
      // Watch events arrive as one JSON object a line; handle them in order.
      let pending = "";
      let chain = Promise.resolve();
      const path = `/api/v1/pods?watch=1&allowWatchBookmarks=false&resourceVersion=${list.metadata.resourceVersion}`;
      await api.call("GET", path, undefined, (chunk) => {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines.filter(Boolean)) {
          const event = JSON.parse(line) as { type: string; object: Pod };
          if (event.type === "ADDED" || event.type === "MODIFIED") {
            chain = chain.then(() => handle(api, event.object, done)).catch((e) => console.error(String(e)));
          }
        }
      });
      await chain;
    } catch (error) {
      console.error(`watch ended: ${(error as Error).message}; listing again`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1] ?? "";
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => process.exit(0));
  void run(arg("--dir"), arg("--server"));
}
