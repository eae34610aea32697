import { describe, expect, it } from "vitest";
import { formatReference, parseReference } from "../../src/image/reference.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("parseReference", () => {
  it("splits host, port, repository and tag", () => {
    expect(parseReference("localhost:5000/iris:v2")).toEqual({
      registry: "localhost:5000",
      repository: "iris",
      name: "localhost:5000/iris",
      tag: "v2",
    });
  });

  it("reads a multi-component repository on a registry without a tag", () => {
    expect(parseReference("ghcr.io/acme/iris")).toEqual({
      registry: "ghcr.io",
      repository: "acme/iris",
      name: "ghcr.io/acme/iris",
    });
  });

  it("treats a first component without '.', ':' or localhost as part of the path", () => {
    expect(parseReference("acme/iris:1.0")).toEqual({
      repository: "acme/iris",
      name: "acme/iris",
      tag: "1.0",
    });
    expect(parseReference("localhost/iris").registry).toBe("localhost");
  });

  it("accepts separators, IPv6 hosts and digests", () => {
    expect(parseReference("a__b/c-d.e--f_g").repository).toBe("a__b/c-d.e--f_g");
    expect(parseReference("[::1]:5000/iris").registry).toBe("[::1]:5000");
    const ref = parseReference(`ghcr.io/acme/iris:v1@${DIGEST}`);
    expect(ref.tag).toBe("v1");
    expect(ref.digest).toBe(DIGEST);
  });

  it("round-trips through formatReference", () => {
    for (const input of [
      "iris",
      "localhost:5000/iris:v2",
      `ghcr.io/acme/iris@${DIGEST}`,
      `a/b:c@${DIGEST}`,
    ]) {
      expect(formatReference(parseReference(input))).toBe(input);
    }
  });

  it.each([
    ["", /empty/],
    ["Iris:v2", /"Iris" must be lowercase/],
    ["ghcr.io/Acme/iris", /"Acme" must be lowercase/],
    ["acme/../iris", /"\.\." must be lowercase/],
    ["../iris", /registry host "\.\."/],
    ["acme//iris", /empty component/],
    ["/iris", /empty component/],
    ["iris/", /empty component/],
    ["iris:", /tag ""/],
    ["iris:-v2", /tag "-v2"/],
    [`iris:${"a".repeat(129)}`, /tag/],
    ["iris :v2", /whitespace/],
    [" iris", /whitespace/],
    ["iris\n", /whitespace/],
    ["iris;rm -rf /", /whitespace/],
    ["iris;rm", /"iris;rm" must be lowercase/],
    ["$(touch x)/iris", /whitespace/],
    ["$(id)/iris", /"\$\(id\)" must be lowercase/],
    ["iris`id`", /lowercase/],
    ["a|b", /lowercase/],
    [`${"a".repeat(256)}`, /longer than 255/],
    ["a".repeat(600), /longer than 512/],
    ["iris@sha256:abc", /digest/],
    [`iris@md5:${"a".repeat(32)}`, /digest/],
    ["localhost:99999/iris", /port 99999 is out of range/],
    ["bad_host.io/iris", /registry host "bad_host.io"/],
    ["-ghcr.io/iris", /registry host/],
    [":5000/iris", /registry host/],
  ])("rejects %j", (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });

  it("names the input in the error, shortened when very long", () => {
    expect(() => parseReference("Iris")).toThrow(/invalid image reference "Iris"/);
    try {
      parseReference(`${"x".repeat(300)}`);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(200);
    }
  });
});
