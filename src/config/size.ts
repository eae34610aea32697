// Byte sizes as modelship.yml writes them (validation.maxSize): a number of bytes, or a string of a
// number and a unit ("500MB", "2GiB", "64 KiB"). A bare numeric string counts as bytes, so CLI flags
// and action inputs (always strings) can say "1048576".

import { shorten } from "./errors.js";

const UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

export const SIZE_EXPECTED = 'a number of bytes, or a string like "64KiB", "10MiB", "500MB", "2GiB"';

/** Bytes (rounded down) of a size of at least 1 byte and at most 2^53 - 1; throws an Error saying
 * what is wrong on anything else (0.5 is not rounded down to 0 bytes: it is refused). */
export function parseSize(value: string | number): number {
  const text = typeof value === "string" ? value : String(value);
  const shown = typeof value === "string" ? JSON.stringify(shorten(text)) : shorten(text);
  const match =
    typeof value === "number" || text.length > 32
      ? null
      : /^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const bytes =
    typeof value === "number"
      ? value
      : match
        ? Number(match[1]) * (UNITS[(match[2] ?? "").toUpperCase()] ?? Number.NaN)
        : Number.NaN;
  if (Number.isNaN(bytes)) throw new Error(`${shown} is not a size`);
  if (bytes < 1) throw new Error(`${shown} is not a size: less than 1 byte`);
  if (bytes > Number.MAX_SAFE_INTEGER)
    throw new Error(`${shown} is not a size: more than ${Number.MAX_SAFE_INTEGER} bytes (8 PiB)`);
  return Math.floor(bytes);
}
