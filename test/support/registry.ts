// A real OCI registry for tests: CNCF distribution from Debian's `docker-registry`, one per suite, on a
// free loopback port with temporary storage. Three auth modes: anonymous, htpasswd (Basic, bcrypt
// entries made by perl's crypt(3), which libxcrypt backs with bcrypt), and distribution's `token`
// auth with a small token issuer here (JWTs signed with node:crypto, the certificate made by openssl).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSign, randomBytes, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type RegistryAuth =
  | { kind: "anonymous" }
  | { kind: "htpasswd"; users: Record<string, string> }
  | { kind: "token"; users: Record<string, string>; tokenTtlS?: number };

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  url: string;
  /** The registry's storage root (rootdirectory): repositories live under docker/registry/v2/repositories. */
  storage: string;
  /** Token auth only: the issuer's URL and how many tokens it issued. */
  issuer?: TokenIssuer;
  stop(): Promise<void>;
}

export interface TokenIssuer {
  url: string;
  service: string;
  issued: number;
  /** Scopes asked for, in order. */
  scopes: string[];
  /** When set, the issuer answers with `access_token` instead of `token`. */
  useAccessTokenField: boolean;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A bcrypt htpasswd line, hashed by crypt(3) through perl (no shell: argv only). */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const bytes = randomBytes(22);
  // The last salt character carries only 2 significant bits; these four are the canonical ones.
  let salt = Array.from(bytes.subarray(0, 21), (b) => BCRYPT_ALPHABET[b % 64]).join("");
  salt += ".Oeu"[(bytes[21] ?? 0) % 4];
  const { stdout } = await run("perl", ["-e", "print crypt($ARGV[0], $ARGV[1])", password, `$2b$05$${salt}`]);
  if (!stdout.startsWith("$2b$05$") || stdout.length !== 60)
    throw new Error(`crypt(3) gave no bcrypt hash: ${stdout}`);
  return `${user}:${stdout}`;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

async function startIssuer(
  dir: string,
  users: Record<string, string>,
  ttlS: number,
): Promise<{ issuer: TokenIssuer; certPath: string }> {
  const keyPath = join(dir, "issuer.key");
  const certPath = join(dir, "issuer.crt");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "2",
    "-subj",
    "/CN=modelship-test-issuer",
  ]);
  const key = await readFile(keyPath, "utf8");
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString("base64");
  const service = "modelship-test-registry";
  const issuerName = "modelship-test-issuer";

  const state = { issued: 0, scopes: [] as string[], useAccessTokenField: false };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://issuer");
    const auth = req.headers.authorization ?? "";
    let subject = "";
    if (auth.startsWith("Basic ")) {
      const [user, ...rest] = Buffer.from(auth.slice(6), "base64").toString("utf8").split(":");
      if (user === undefined || users[user] !== rest.join(":")) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"bad credentials"}');
        return;
      }
      subject = user;
    }
    // Only authenticated subjects get push; anonymous callers get pull at most.
    const access = url.searchParams.getAll("scope").flatMap((scope) => {
      state.scopes.push(scope);
      const [type, name, actions] = scope.split(":");
      if (type !== "repository" || !name || !actions) return [];
      const allowed = actions.split(",").filter((a) => subject !== "" || a === "pull");
      return [{ type, name, actions: allowed }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [certDer] };
    const claims = {
      iss: issuerName,
      sub: subject,
      aud: service,
      exp: now + ttlS,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    state.issued++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify(state.useAccessTokenField ? { access_token: token } : { token, expires_in: ttlS }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  const issuer: TokenIssuer = {
    url,
    service,
    get issued() {
      return state.issued;
    },
    get scopes() {
      return state.scopes;
    },
    get useAccessTokenField() {
      return state.useAccessTokenField;
    },
    set useAccessTokenField(value: boolean) {
      state.useAccessTokenField = value;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  } as TokenIssuer;
  return { issuer, certPath };
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not become ready: ${stderr()}`);
}

export async function startRegistry(auth: RegistryAuth = { kind: "anonymous" }): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(join(dir, "data"))}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
  let issuer: TokenIssuer | undefined;
  if (auth.kind === "htpasswd") {
    const entries = await Promise.all(Object.entries(auth.users).map(([u, p]) => htpasswdLine(u, p)));
    const file = join(dir, "htpasswd");
    await writeFile(file, `${entries.join("\n")}\n`);
    lines.push("auth:", "  htpasswd:", "    realm: modelship-test", `    path: ${JSON.stringify(file)}`);
  } else if (auth.kind === "token") {
    const started = await startIssuer(dir, auth.users, auth.tokenTtlS ?? 300);
    issuer = started.issuer;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(issuer.url)}`,
      `    service: ${issuer.service}`,
      "    issuer: modelship-test-issuer",
      `    rootcertbundle: ${JSON.stringify(started.certPath)}`,
    );
  }
  const config = join(dir, "config.yml");
  await writeFile(config, `${lines.join("\n")}\n`);
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr = (stderr + c).slice(-4000);
  });
  const url = `http://${host}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await issuer?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  const registry: TestRegistry = { host, url, storage: join(dir, "data"), stop };
  if (issuer) registry.issuer = issuer;
  return registry;
}

/** Runs skopeo (argv only) and returns stdout; errors carry skopeo's stderr. */
export async function skopeo(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run("skopeo", args, {
      maxBuffer: 64 << 20,
      env: { ...process.env, ...env },
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(" ")} failed: ${e.stderr ?? e.message}`);
  }
}
