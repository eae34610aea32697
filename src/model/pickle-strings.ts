// Protocol 0 text arguments decoded the way CPython's unpickler decodes them. A scanner that compares the raw
// bytes sees `'o\x73'` where Python imports "os", so STRING and UNICODE arguments must be decoded first.
import { FormatError } from "./findings.js";

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isOctal = (c: string | undefined) => c !== undefined && c >= "0" && c <= "7";

/**
 * STRING: a quoted Python bytes literal (codecs.escape_decode), returned one char per byte. Unknown escapes
 * stay as written, as in Python; a bad \x escape is an error there too.
 */
export function decodeStringLiteral(body: string, offset: number): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) throw new FormatError("STRING ends with a lone backslash", offset);
    if (next === "\n") {
      i++;
      continue;
    }
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out += simple;
      i++;
    } else if (next === "x") {
      if (!isHex(body[i + 2]) || !isHex(body[i + 3]))
        throw new FormatError("invalid \\x escape in STRING", offset);
      out += String.fromCharCode(Number.parseInt(body.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (isOctal(next)) {
      let digits = next;
      while (digits.length < 3 && isOctal(body[i + 1 + digits.length])) digits += body[i + 1 + digits.length];
      out += String.fromCharCode(Number.parseInt(digits, 8) & 0xff);
      i += digits.length;
    } else {
      out += "\\";
    }
  }
  return out;
}

/**
 * UNICODE: raw-unicode-escape, where only \uXXXX and \UXXXXXXXX after an odd run of backslashes are escapes
 * and every other byte is its Latin-1 code point.
 */
export function decodeRawUnicodeEscape(text: string, offset: number): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c !== "\\") {
      out += c;
      i++;
      continue;
    }
    let run = 0;
    while (text[i + run] === "\\") run++;
    const marker = text[i + run];
    if (run % 2 === 1 && (marker === "u" || marker === "U")) {
      const digits = marker === "u" ? 4 : 8;
      const hex = text.slice(i + run + 1, i + run + 1 + digits);
      if (hex.length !== digits || ![...hex].every(isHex)) {
        throw new FormatError(`truncated \\${marker} escape in UNICODE`, offset);
      }
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff) throw new FormatError("\\U escape beyond U+10FFFF in UNICODE", offset);
      out += "\\".repeat(run - 1) + String.fromCodePoint(code);
      i += run + 1 + digits;
    } else {
      out += "\\".repeat(run);
      i += run;
    }
  }
  return out;
}
