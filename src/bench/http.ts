import http from "node:http";
import https from "node:https";

/** How one request ended. `error` is a breakdown key: "status:503", "timeout" or "connection:ECONNREFUSED". */
export type Outcome =
  | { ok: true; status: number }
  | { ok: false; error: string }
  | { ok: false; cancelled: true };
/** An outcome that counts: the request finished one way or another rather than being cancelled. */
export type Completed = Exclude<Outcome, { cancelled: true }>;

export interface Sender {
  send(body: Buffer): Promise<Outcome>;
  /** Ends every in-flight request (its outcome is `cancelled`) and closes idle keep-alive sockets. */
  close(): void;
}

export interface SenderOptions {
  endpoint: URL;
  headers: Record<string, string>;
  timeoutMs: number;
  maxSockets: number;
}

/** POSTs bodies to one endpoint over keep-alive connections, classifying every outcome. */
export function createSender(options: SenderOptions): Sender {
  const { endpoint, timeoutMs } = options;
  const secure = endpoint.protocol === "https:";
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
  };
  const agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const request = secure ? https.request : http.request;
  const baseHeaders = { "content-type": "application/json", ...options.headers };
  const inFlight = new Set<() => void>();

  function send(body: Buffer): Promise<Outcome> {
    return new Promise((resolve) => {
      let settled = false;
      let cause: "timeout" | "cancelled" | undefined;
      let req: http.ClientRequest | undefined;
      const cancel = () => {
        cause ??= "cancelled";
        req?.destroy();
        finish({ ok: false, cancelled: true });
      };
      const timer = setTimeout(() => {
        cause ??= "timeout";
        req?.destroy();
        finish({ ok: false, error: "timeout" });
      }, timeoutMs);
      function finish(outcome: Outcome): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        inFlight.delete(cancel);
        resolve(outcome);
      }
      const failed = (err: NodeJS.ErrnoException) => {
        if (cause === "timeout") finish({ ok: false, error: "timeout" });
        else if (cause === "cancelled") finish({ ok: false, cancelled: true });
        else finish({ ok: false, error: `connection:${err.code ?? "error"}` });
      };
      inFlight.add(cancel);
      try {
        req = request(endpoint, {
          method: "POST",
          agent,
          headers: { ...baseHeaders, "content-length": String(body.length) },
        });
      } catch (err) {
        // Settle on a later turn so a closed-loop worker cannot spin without yielding to timers.
        const error = `connection:${(err as NodeJS.ErrnoException).code ?? "error"}`;
        setImmediate(() => finish({ ok: false, error }));
        return;
      }
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        // The response counts once its body has fully arrived, not at the first header byte.
        res.resume();
        res.on("end", () =>
          finish(
            status >= 200 && status < 300 ? { ok: true, status } : { ok: false, error: `status:${status}` },
          ),
        );
        res.on("error", failed);
        res.on("close", () => {
          if (!res.complete) failed(Object.assign(new Error("response cut short"), { code: "ECONNRESET" }));
        });
      });
      req.on("error", failed);
      req.end(body);
    });
  }

  return {
    send,
    close() {
      for (const cancel of [...inFlight]) cancel();
      agent.destroy();
    },
  };
}
