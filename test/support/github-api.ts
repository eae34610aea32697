// A local GitHub REST API on loopback for tests. Every request is matched to an operation of
// GitHub's official OpenAPI description (@octokit/openapi) and checked against it (path and query
// parameters, the JSON body, and no body field the operation does not declare); every answer is
// checked against the operation's response schema before it is sent. It keeps just enough state to
// follow a sequence: issue comments, deployments and their statuses. Faults can be injected.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { ValidateFunction } from "ajv";

const require = createRequire(import.meta.url);
// CommonJS packages, loaded as such (their default exports do not survive ESM interop under tsc).
const Ajv = require("ajv").default as typeof import("ajv").default;
const addFormats = require("ajv-formats").default as typeof import("ajv-formats").default;
type AjvInstance = InstanceType<typeof Ajv>;

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  spec: {
    operationId: string;
    parameters?: { in: string; name: string; required?: boolean; schema?: object; $ref?: string }[];
    requestBody?: { content: Record<string, { schema: object }> };
    responses: Record<string, { content?: Record<string, { schema: object }> }>;
  };
}

export interface RecordedRequest {
  method: string;
  path: string;
  operationId?: string;
  body?: unknown;
  status: number;
  authorization?: string;
}

export interface Comment {
  id: number;
  issue: number;
  body: string;
}

export interface Deployment {
  id: number;
  environment: string;
  ref: string;
  payload: unknown;
  description: string | null;
  transient: boolean;
  production: boolean;
}

export interface Status {
  state: string;
  environment_url?: string;
  log_url?: string;
  description?: string;
}

export interface Fault {
  /** Which operation, by OpenAPI operationId (e.g. "repos/create-deployment"). */
  operationId: string;
  status: number;
  /** How many requests it answers (default every one). */
  times?: number;
}

export interface LocalGitHub {
  url: string;
  requests: RecordedRequest[];
  /** Every way a request or an answer broke the schema; a test expects none. */
  violations: string[];
  comments: Comment[];
  deployments: Deployment[];
  statuses: Map<number, Status[]>;
  inject(fault: Fault): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

type Spec = {
  paths: Record<string, Record<string, Operation["spec"]>>;
  components: {
    parameters: Record<string, Operation["spec"]["parameters"] extends (infer P)[] | undefined ? P : never>;
  };
};

let loaded: { spec: Spec; ajv: AjvInstance; operations: Operation[] } | undefined;

/** The description and its validator, loaded once per test process (the file is large). */
function load() {
  if (loaded) return loaded;
  const spec = require("@octokit/openapi/generated/api.github.com.json") as Spec;
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ $id: "github", components: spec.components });
  const operations: Operation[] = [];
  for (const [template, methods] of Object.entries(spec.paths)) {
    const names: string[] = [];
    const source = template
      .replace(/[.*+?^$()|[\]\\]/g, "\\$&")
      .replace(/\\?\{([^}]+)\\?\}|\{([^}]+)\}/g, (_, a, b) => {
        names.push(a ?? b);
        return "([^/]+)";
      });
    for (const [method, op] of Object.entries(methods)) {
      if (!op || typeof op !== "object" || !("operationId" in op)) continue;
      operations.push({
        method: method.toUpperCase(),
        template,
        pattern: new RegExp(`^${source}$`),
        names,
        spec: op,
      });
    }
  }
  // Literal paths before templated ones, so /repos/{o}/{r}/issues/comments wins over {issue_number}.
  operations.sort((a, b) => a.names.length - b.names.length);
  loaded = { spec, ajv, operations };
  return loaded;
}

/** A schema whose "#/components/…" references point into the registered description. */
function anchored(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(anchored);
  if (schema && typeof schema === "object") {
    return Object.fromEntries(
      Object.entries(schema).map(([k, v]) => [
        k,
        k === "$ref" && typeof v === "string" && v.startsWith("#/") ? `github${v}` : anchored(v),
      ]),
    );
  }
  return schema;
}

const compiled = new Map<object, ValidateFunction>();
function validator(schema: object): ValidateFunction {
  const known = compiled.get(schema);
  if (known) return known;
  const fn = load().ajv.compile(anchored(schema) as object);
  compiled.set(schema, fn);
  return fn;
}

function resolveParameter(p: NonNullable<Operation["spec"]["parameters"]>[number]) {
  if (p.$ref) {
    const name = p.$ref.split("/").at(-1) as string;
    return load().spec.components.parameters[name] as typeof p;
  }
  return p;
}

function coerce(value: string, schema: { type?: string } | undefined): unknown {
  if (schema?.type === "integer" || schema?.type === "number")
    return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (schema?.type === "boolean") return value === "true" ? true : value === "false" ? false : value;
  return value;
}

const errorsText = (fn: ValidateFunction) =>
  (fn.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");

export async function startGitHubApi(): Promise<LocalGitHub> {
  const { operations } = load();
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const comments: Comment[] = [];
  const deployments: Deployment[] = [];
  const statuses = new Map<number, Status[]>();
  let faults: (Fault & { left: number })[] = [];
  let nextId = 1000;
  let url = "";

  const user = () => ({
    login: "github-actions[bot]",
    id: 41898282,
    node_id: "MDM6Qm90NDE4OTgyODI=",
    avatar_url: "https://avatars.githubusercontent.com/in/15368?v=4",
    gravatar_id: "",
    url: "https://api.github.com/users/github-actions%5Bbot%5D",
    html_url: "https://github.com/apps/github-actions",
    followers_url: "https://api.github.com/users/github-actions%5Bbot%5D/followers",
    following_url: "https://api.github.com/users/github-actions%5Bbot%5D/following{/other_user}",
    gists_url: "https://api.github.com/users/github-actions%5Bbot%5D/gists{/gist_id}",
    starred_url: "https://api.github.com/users/github-actions%5Bbot%5D/starred{/owner}{/repo}",
    subscriptions_url: "https://api.github.com/users/github-actions%5Bbot%5D/subscriptions",
    organizations_url: "https://api.github.com/users/github-actions%5Bbot%5D/orgs",
    repos_url: "https://api.github.com/users/github-actions%5Bbot%5D/repos",
    events_url: "https://api.github.com/users/github-actions%5Bbot%5D/events{/privacy}",
    received_events_url: "https://api.github.com/users/github-actions%5Bbot%5D/received_events",
    type: "Bot",
    site_admin: false,
  });
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const repoUrl = (p: Record<string, string>) => `${url}/repos/${p.owner}/${p.repo}`;
  const commentJson = (c: Comment, p: Record<string, string>) => ({
    id: c.id,
    node_id: `IC_${c.id}`,
    url: `${repoUrl(p)}/issues/comments/${c.id}`,
    html_url: `https://github.com/${p.owner}/${p.repo}/pull/${c.issue}#issuecomment-${c.id}`,
    issue_url: `${repoUrl(p)}/issues/${c.issue}`,
    body: c.body,
    user: user(),
    created_at: now(),
    updated_at: now(),
    author_association: "NONE",
  });
  const deploymentJson = (d: Deployment, p: Record<string, string>) => ({
    id: d.id,
    node_id: `DE_${d.id}`,
    url: `${repoUrl(p)}/deployments/${d.id}`,
    sha: /^[0-9a-f]{40}$/.test(d.ref) ? d.ref : "0".repeat(40),
    ref: d.ref,
    task: "deploy",
    payload: d.payload,
    original_environment: d.environment,
    environment: d.environment,
    description: d.description,
    creator: user(),
    created_at: now(),
    updated_at: now(),
    statuses_url: `${repoUrl(p)}/deployments/${d.id}/statuses`,
    repository_url: repoUrl(p),
    transient_environment: d.transient,
    production_environment: d.production,
  });

  type Handler = (
    p: Record<string, string>,
    body: Record<string, unknown>,
    query: URLSearchParams,
  ) => [number, unknown];
  const handlers: Record<string, Handler> = {
    "issues/list-comments": (p) => [
      200,
      comments.filter((c) => c.issue === Number(p.issue_number)).map((c) => commentJson(c, p)),
    ],
    "issues/create-comment": (p, body) => {
      const c = { id: nextId++, issue: Number(p.issue_number), body: String(body.body) };
      comments.push(c);
      return [201, commentJson(c, p)];
    },
    "issues/update-comment": (p, body) => {
      const c = comments.find((x) => x.id === Number(p.comment_id));
      if (!c) return [404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" }];
      c.body = String(body.body);
      return [200, commentJson(c, p)];
    },
    "repos/create-deployment": (p, body) => {
      const d: Deployment = {
        id: nextId++,
        environment: String(body.environment ?? "production"),
        ref: String(body.ref),
        payload: body.payload ?? {},
        description: (body.description as string | undefined) ?? null,
        transient: body.transient_environment === true,
        production: body.production_environment === true,
      };
      deployments.push(d);
      statuses.set(d.id, []);
      return [201, deploymentJson(d, p)];
    },
    "repos/list-deployments": (p, _body, query) => {
      const env = query.get("environment");
      const found = deployments.filter((d) => !env || d.environment === env).reverse();
      return [200, found.map((d) => deploymentJson(d, p))];
    },
    "repos/create-deployment-status": (p, body) => {
      const d = deployments.find((x) => x.id === Number(p.deployment_id));
      if (!d) return [404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" }];
      const s: Status = { state: String(body.state) };
      for (const k of ["environment_url", "log_url", "description"] as const)
        if (typeof body[k] === "string") s[k] = body[k] as string;
      statuses.get(d.id)?.push(s);
      return [
        201,
        {
          id: nextId++,
          node_id: `DES_${nextId}`,
          url: `${repoUrl(p)}/deployments/${d.id}/statuses/${nextId}`,
          state: s.state,
          creator: user(),
          description: s.description ?? "",
          environment: d.environment,
          // target_url is required and a URI: the log URL, else the deployment's own.
          target_url: s.log_url ?? `${repoUrl(p)}/deployments/${d.id}`,
          ...(s.log_url ? { log_url: s.log_url } : {}),
          ...(s.environment_url ? { environment_url: s.environment_url } : {}),
          created_at: now(),
          updated_at: now(),
          deployment_url: `${repoUrl(p)}/deployments/${d.id}`,
          repository_url: repoUrl(p),
        },
      ];
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    const record: RecordedRequest = {
      method,
      path: target.pathname,
      status: 0,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    requests.push(record);
    const send = (status: number, json: unknown) => {
      record.status = status;
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(json === undefined ? "" : JSON.stringify(json));
    };
    const violation = (text: string) => {
      violations.push(`${method} ${target.pathname}: ${text}`);
      send(422, { message: `Validation Failed: ${text}`, documentation_url: "https://docs.github.com/rest" });
    };

    let params: Record<string, string> = {};
    const op = operations.find((o) => {
      if (o.method !== method) return false;
      const m = o.pattern.exec(target.pathname);
      if (!m) return false;
      params = Object.fromEntries(o.names.map((n, i) => [n, decodeURIComponent(m[i + 1] as string)]));
      return true;
    });
    if (!op) return violation("no operation of the GitHub REST API has this method and path");
    record.operationId = op.spec.operationId;

    for (const raw of op.spec.parameters ?? []) {
      const p = resolveParameter(raw);
      if (!p || (p.in !== "path" && p.in !== "query")) continue;
      const value = p.in === "path" ? params[p.name] : (target.searchParams.get(p.name) ?? undefined);
      if (value === undefined) {
        if (p.required) return violation(`${p.in} parameter ${p.name} is required`);
        continue;
      }
      if (p.schema) {
        const fn = validator(p.schema);
        if (!fn(coerce(value, p.schema as { type?: string })))
          return violation(`${p.in} parameter ${p.name}=${value}: ${errorsText(fn)}`);
      }
    }
    const declared = new Set(
      (op.spec.parameters ?? []).map((p) => resolveParameter(p)?.name).filter((n): n is string => Boolean(n)),
    );
    for (const name of target.searchParams.keys())
      if (!declared.has(name)) return violation(`query parameter ${name} is not one the operation declares`);

    let body: Record<string, unknown> = {};
    const schema = op.spec.requestBody?.content["application/json"]?.schema;
    if (chunks.length > 0 || schema) {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        return violation("the body is not JSON");
      }
      record.body = body;
      if (schema) {
        const fn = validator(schema);
        if (!fn(body)) return violation(`body: ${errorsText(fn)}`);
        const props = (schema as { properties?: Record<string, unknown> }).properties;
        if (props && body && typeof body === "object") {
          const unknown = Object.keys(body).filter((k) => !(k in props));
          if (unknown.length)
            return violation(`body fields the operation does not declare: ${unknown.join(", ")}`);
        }
      } else if (text) return violation("this operation takes no body");
    }

    const fault = faults.find((f) => f.operationId === op.spec.operationId && f.left > 0);
    if (fault) {
      fault.left--;
      return send(fault.status, {
        message: fault.status === 403 ? "Resource not accessible by integration" : "Server Error",
        documentation_url: "https://docs.github.com/rest",
        status: String(fault.status),
      });
    }
    const handler = handlers[op.spec.operationId];
    if (!handler) return violation(`${op.spec.operationId} is not served by this local API`);
    const [status, json] = handler(params, body, target.searchParams);
    const responseSchema = op.spec.responses[String(status)]?.content?.["application/json"]?.schema;
    if (status < 400) {
      if (!responseSchema)
        violations.push(`answer ${status} to ${op.spec.operationId} is not in the description`);
      else {
        const fn = validator(responseSchema);
        if (!fn(json))
          violations.push(`answer to ${op.spec.operationId} breaks its schema: ${errorsText(fn)}`);
      }
    }
    send(status, json);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      violations.push(`local API crashed: ${error}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    violations,
    comments,
    deployments,
    statuses,
    inject: (fault) => faults.push({ ...fault, left: fault.times ?? Number.POSITIVE_INFINITY }),
    clearFaults: () => {
      faults = [];
    },
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
