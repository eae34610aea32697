// Registry failures as errors a user can act on: the HTTP status, the distribution error codes from the
// JSON body (DENIED, MANIFEST_BLOB_UNKNOWN, …) and a hint saying what to do. The body is untrusted: it
// is size-limited by the caller, parsed defensively and cut short before it reaches a message.

const HINTS: Record<string, string> = {
  UNAUTHORIZED:
    "log in first (docker login HOST), give username/password, or for ghcr.io set GITHUB_TOKEN with packages: write",
  DENIED:
    "the credentials are valid but may not do this: check push rights on the repository (ghcr.io: packages: write; a new package may need linking to the repository)",
  NAME_UNKNOWN: "the repository does not exist on this registry, or the credentials cannot see it",
  NAME_INVALID: "the repository name is not valid on this registry",
  MANIFEST_UNKNOWN: "no manifest under this tag or digest: check the reference",
  MANIFEST_BLOB_UNKNOWN:
    "the manifest references a blob the registry does not have: a layer upload did not complete, push again",
  MANIFEST_INVALID: "the registry refused the manifest's content; it may not accept this media type",
  BLOB_UNKNOWN: "the blob is not in this repository",
  BLOB_UPLOAD_INVALID: "the upload session broke; pushing again starts a new one",
  BLOB_UPLOAD_UNKNOWN: "the upload session expired or was cancelled; pushing again starts a new one",
  DIGEST_INVALID: "the bytes received do not match their digest: a proxy may have altered them in transit",
  SIZE_INVALID: "the bytes received do not match the declared size",
  TOOMANYREQUESTS: "the registry is rate-limiting: wait and retry, or authenticate for a higher limit",
  UNSUPPORTED: "the registry does not support this operation",
};

export interface RegistryErrorDetail {
  code: string;
  message?: string;
}

export class RegistryError extends Error {
  readonly status: number;
  readonly codes: string[];
  readonly hint: string | undefined;
  constructor(what: string, status: number, details: RegistryErrorDetail[], hint?: string) {
    const codes = details.map((d) => d.code);
    const text = details.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join("; ");
    const resolvedHint =
      hint ?? codes.map((c) => HINTS[c]).find((h) => h !== undefined) ?? statusHint(status);
    super(
      `${what} failed with HTTP ${status}${text ? ` (${text})` : ""}${resolvedHint ? `; ${resolvedHint}` : ""}`,
    );
    this.name = "RegistryError";
    this.status = status;
    this.codes = codes;
    this.hint = resolvedHint;
  }
}

/** A registry operation stopped because its AbortSignal fired (a cancelled run, or a sibling upload failed). */
export class CancelledError extends Error {
  constructor(what: string, reason?: unknown) {
    const text = reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "";
    // A DOMException's default text says nothing; a reason given on purpose (interrupted by SIGINT) does.
    const detail = text !== "" && text !== "This operation was aborted" ? ` (${text})` : "";
    super(`${what} was cancelled${detail}`);
    this.name = "AbortError";
  }
}

/** Whether an error is a cancellation (ours, or the AbortError Node's http raises on an aborted signal). */
export function isCancellation(err: unknown): boolean {
  return (
    err instanceof CancelledError ||
    (err instanceof Error &&
      (err.name === "AbortError" || (err as NodeJS.ErrnoException).code === "ABORT_ERR"))
  );
}

function statusHint(status: number): string | undefined {
  if (status === 401) return HINTS.UNAUTHORIZED;
  if (status === 403) return HINTS.DENIED;
  if (status === 429) return HINTS.TOOMANYREQUESTS;
  if (status >= 500) return "the registry had an internal error; it may be overloaded, try again later";
  return undefined;
}

function clip(text: string, max = 200): string {
  // Control characters from a hostile body could rewrite the terminal; they become spaces.
  const clean = Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || code === 0x7f ? " " : c;
  }).join("");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** The distribution error list in a response body, or a clipped snippet of a non-JSON body. */
export function parseErrorBody(body: string): RegistryErrorDetail[] {
  try {
    const parsed = JSON.parse(body) as { errors?: unknown; details?: unknown };
    if (Array.isArray(parsed.errors)) {
      return parsed.errors.slice(0, 5).flatMap((e) => {
        if (e === null || typeof e !== "object") return [];
        const { code, message } = e as { code?: unknown; message?: unknown };
        if (typeof code !== "string") return [];
        const detail: RegistryErrorDetail = { code: clip(code, 40) };
        if (typeof message === "string" && message !== "") detail.message = clip(message);
        return [detail];
      });
    }
  } catch {
    // not JSON
  }
  const trimmed = body.trim();
  return trimmed === "" ? [] : [{ code: "HTTP_BODY", message: clip(trimmed) }];
}
