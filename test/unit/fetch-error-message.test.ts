import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { fetchErrorMessage } from "../../src/util/errors.js";

describe("fetchErrorMessage", () => {
  it("adds what undici's cause says to its bare 'fetch failed'", async () => {
    // A real refused connection: a port that was just let go of.
    const probe = createServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, "close");
    const error = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(fetchErrorMessage(error)).toBe(`fetch failed (connect ECONNREFUSED 127.0.0.1:${port})`);
  });

  it("takes a code from a cause that is not an Error, and says nothing twice or as [object Object]", () => {
    expect(fetchErrorMessage(new TypeError("fetch failed", { cause: { code: "UND_ERR_SOCKET" } }))).toBe(
      "fetch failed (UND_ERR_SOCKET)",
    );
    expect(fetchErrorMessage(new TypeError("fetch failed", { cause: { errno: 1 } }))).toBe("fetch failed");
    expect(fetchErrorMessage(new Error("timeout: ETIMEDOUT", { cause: new Error("ETIMEDOUT") }))).toBe(
      "timeout: ETIMEDOUT",
    );
    expect(fetchErrorMessage("plain")).toBe("plain");
    expect(fetchErrorMessage(new Error("no cause"))).toBe("no cause");
  });
});
