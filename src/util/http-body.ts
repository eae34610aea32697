/**
 * A fetch response body as text, refusing one larger than `maxBytes` before it is all in memory:
 * a server under test or a model server is not trusted to bound its own answers.
 */
export async function readTextLimited(response: Response, maxBytes: number, what: string): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    size += next.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`${what} is larger than ${maxBytes} bytes`);
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
