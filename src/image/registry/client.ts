// A registry client written here rather than taken from npm: the packages found either buffer whole
// blobs in memory, cannot resume or retry an upload, or do not implement the token dance; a model
// layer is gigabytes. This module owns one registry host: ping, auth (anonymous, Basic, Bearer with
// per-scope tokens refreshed on a later 401), retries with backoff and jitter on 408/429/5xx and
// connection resets, redirects that never carry credentials to another host, and cancellation: an
// AbortSignal (the client's, and one per request) stops a request in flight and any wait between tries.
import type { Logger } from "../../util/log.js";
import { silentLogger } from "../../util/log.js";
import { basicHeader, type Challenge, type Credential, fetchToken, parseChallenges } from "./auth.js";
import { CancelledError, isCancellation, parseErrorBody, RegistryError } from "./errors.js";
import { type Body, createTransport, type HttpResponse, header, type Transport } from "./http.js";

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 250, maxDelayMs: 15_000 };
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_REDIRECTS = 5;
/** Statuses worth another try: the client retries them itself; uploads restart their own way. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

/** A Logger that may also take debug lines (the action's core.debug); without it they are dropped. */
export interface RegistryLogger extends Logger {
  debug?(message: string): void;
}

export interface RegistryClientOptions {
  /** host[:port] as written in the image reference ("docker.io" for Docker Hub). */
  host: string;
  /** Plain http (an insecure registry, e.g. a local one). */
  insecure?: boolean;
  credential?: Credential;
  log?: RegistryLogger;
  retry?: RetryPolicy;
  transport?: Transport;
  sleep?: (ms: number) => Promise<void>;
  /** Cancels every request of this client (a cancelled run) but the detached ones. */
  signal?: AbortSignal;
}

export interface RegistryRequest {
  method: string;
  /** A path under the registry ("/v2/…") or an absolute URL (an upload Location). */
  url: string | URL;
  /** Token scopes this request needs, e.g. repository:acme/iris:pull,push. */
  scopes: readonly string[];
  headers?: Record<string, string>;
  /** Makes the body; called again for each retry, redirect or re-authentication. */
  body?: () => Body;
  /** false: return retryable failures to the caller instead of retrying (uploads restart their own way). */
  retry?: boolean;
  /** Cancels this request, along with the client's own signal. */
  signal?: AbortSignal;
  /** Not cancelled by the client's signal: cleanup that runs after a cancel (an upload session's DELETE). */
  detached?: boolean;
  what: string;
}

/** Docker Hub's API does not live at the host its references name. */
export function apiHost(host: string): string {
  return host === "docker.io" || host === "index.docker.io" ? "registry-1.docker.io" : host;
}

export function isRetryableError(err: unknown): boolean {
  // An aborted request says "aborted" too, but it was stopped on purpose.
  if (isCancellation(err)) return false;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && RETRYABLE_CODES.has(code)) return true;
  return err instanceof Error && /socket hang up|other side closed|aborted/i.test(err.message);
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date), capped; undefined when absent. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** Exponential backoff with full jitter between half and all of the step. */
export function backoffMs(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.5 + random() / 2));
}

export class RegistryClient {
  readonly host: string;
  readonly base: URL;
  readonly log: RegistryLogger;
  readonly retry: RetryPolicy;
  readonly signal: AbortSignal | undefined;
  private readonly transport: Transport;
  private readonly ownsTransport: boolean;
  private readonly credential: Credential | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  /** undefined: not known yet; null: the registry lets us in without auth. */
  private challenge: Challenge | null | undefined;
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(options: RegistryClientOptions) {
    this.host = options.host;
    this.base = new URL(`${options.insecure ? "http" : "https"}://${apiHost(options.host)}`);
    this.log = options.log ?? silentLogger;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.transport = options.transport ?? createTransport();
    this.ownsTransport = options.transport === undefined;
    this.credential = options.credential;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.signal = options.signal;
  }

  /** The signal a request obeys: its own and, unless detached, the client's. */
  signalFor(req: Pick<RegistryRequest, "signal" | "detached">): AbortSignal | undefined {
    const signals = [req.signal, req.detached ? undefined : this.signal].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  }

  /** Waits, or throws a CancelledError as soon as the signal fires. */
  private async pause(ms: number, what: string, signal: AbortSignal | undefined): Promise<void> {
    if (!signal) return this.sleep(ms);
    if (signal.aborted) throw new CancelledError(`${what} (${this.host})`, signal.reason);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new CancelledError(`${what} (${this.host})`, signal.reason));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([this.sleep(ms), aborted]);
    } finally {
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  close(): void {
    if (this.ownsTransport) this.transport.close();
  }

  /** GET /v2/: checks the registry speaks the distribution API and learns its auth challenge. */
  async ping(): Promise<void> {
    const res = await this.request({ method: "GET", url: "/v2/", scopes: [], what: `ping ${this.host}` });
    if (res.status !== 200) throw await this.failure(res, `ping ${this.host}`);
    await res.discard();
  }

  async failure(res: HttpResponse, what: string): Promise<RegistryError> {
    let body = "";
    try {
      body = await res.text();
    } catch {
      await res.discard().catch(() => {});
    }
    return new RegistryError(`${what} (${this.host})`, res.status, parseErrorBody(body));
  }

  private async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") return this.credential ? basicHeader(this.credential) : undefined;
    const key = [...scopes].sort().join(" ");
    let token = this.tokens.get(key);
    if (!token) {
      token = fetchToken(this.transport, challenge, scopes, this.credential, this.base.protocol).then(
        (t) => t.token,
      );
      this.tokens.set(key, token);
      token.catch(() => this.tokens.delete(key));
    }
    return `Bearer ${await token}`;
  }

  private learnChallenge(res: HttpResponse): void {
    const value = header(res.headers, "www-authenticate");
    if (!value) throw new RegistryError(`${this.host} answered 401 without a challenge`, 401, []);
    const challenges = parseChallenges(value);
    const usable =
      challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (!usable) {
      throw new Error(
        `${this.host} asks for unsupported auth: ${challenges.map((c) => c.scheme).join(", ")}`,
      );
    }
    this.challenge = usable;
  }

  /** Sends a request with auth, retries and redirects; the caller checks the final status. */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    let url = typeof req.url === "string" ? new URL(req.url, this.base) : req.url;
    let method = req.method;
    let body = req.body;
    let attempt = 0;
    let redirects = 0;
    let reauthenticated = false;
    const signal = this.signalFor(req);
    for (;;) {
      if (signal?.aborted) throw new CancelledError(`${req.what} (${this.host})`, signal.reason);
      attempt++;
      const headers: Record<string, string> = { ...req.headers };
      // Credentials go only to the registry itself, never to a host a redirect points at.
      if (url.origin === this.base.origin) {
        const auth = await this.authorization(req.scopes);
        if (auth) headers.authorization = auth;
      }
      let res: HttpResponse;
      try {
        res = await this.transport.send({
          method,
          url,
          headers,
          body: body?.(),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (signal?.aborted) throw new CancelledError(`${req.what} (${this.host})`, signal.reason);
        if (req.retry !== false && isRetryableError(err) && attempt < this.retry.attempts) {
          const delay = backoffMs(attempt, this.retry);
          this.log.warn(`${req.what}: ${(err as Error).message}; retrying in ${delay} ms`);
          await this.pause(delay, req.what, signal);
          continue;
        }
        throw Object.assign(new Error(`${req.what} (${this.host}): ${(err as Error).message}`), {
          code: (err as NodeJS.ErrnoException).code,
          cause: err,
        });
      }

      if (res.status === 401 && url.origin === this.base.origin && !reauthenticated) {
        // First contact, or a token that expired mid-push: learn the challenge, drop the token, retry once.
        reauthenticated = true;
        await res.discard();
        this.learnChallenge(res);
        this.tokens.delete([...req.scopes].sort().join(" "));
        attempt--;
        continue;
      }
      const location = header(res.headers, "location");
      if ([301, 302, 303, 307, 308].includes(res.status) && location && redirects < MAX_REDIRECTS) {
        await res.discard();
        redirects++;
        attempt--;
        url = new URL(location, url);
        if (url.protocol !== "https:" && url.protocol !== "http:") {
          throw new Error(`${req.what}: refusing redirect to ${url.protocol} URL`);
        }
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
          method = "GET";
          body = undefined;
        }
        continue;
      }
      if (req.retry !== false && RETRYABLE_STATUS.has(res.status) && attempt < this.retry.attempts) {
        const delay = retryAfterMs(header(res.headers, "retry-after")) ?? backoffMs(attempt, this.retry);
        await res.discard();
        this.log.warn(`${req.what}: HTTP ${res.status}; retrying in ${delay} ms`);
        await this.pause(delay, req.what, signal);
        continue;
      }
      return res;
    }
  }

  /** Waits before the next try of an operation that handles its own retries (blob uploads). */
  async backoff(
    what: string,
    attempt: number,
    reason: string,
    retryAfter?: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const delay = retryAfter ?? backoffMs(attempt, this.retry);
    this.log.warn(`${what}: ${reason}; retrying in ${delay} ms`);
    await this.pause(delay, what, this.signalFor(signal ? { signal } : {}));
  }
}
