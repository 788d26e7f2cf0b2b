// What a text file is, checked before any job reads it: binary or non-UTF-8 bytes would otherwise be decoded into
// replacement characters and tokenized without a word, and CRLF line ends silently change every line's tokens.
import * as fs from 'node:fs';
import { UserError } from '../util/errors';

/** Bytes checked from the start of a text: jobs read only a prefix of a large corpus, and a binary file shows at once. */
export const TEXT_SAMPLE_BYTES = 4 << 20;

function readSample(file: string, role: string): Buffer {
  if (!fs.existsSync(file)) throw new UserError(`${role} ${file}: text file not found`);
  if (!fs.statSync(file).isFile())
    throw new UserError(
      `${role} ${file}: not a file (a text file is needed: plain text, or .jsonl with a "text" field)`,
    );
  const buf = Buffer.alloc(Math.min(TEXT_SAMPLE_BYTES, fs.statSync(file).size));
  const fd = fs.openSync(file, 'r');
  try {
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

const validPrefix = (buf: Buffer, n: number) => {
  try {
    // `stream`: a sequence cut by the end of the prefix (or of the sample) is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, n), { stream: true });
    return true;
  } catch {
    return false;
  }
};

/** Offset of the first byte of the first invalid UTF-8 sequence, or -1: a binary search over prefixes (only when there is one). */
function invalidUtf8At(buf: Buffer): number {
  if (validPrefix(buf, buf.length)) return -1;
  let lo = 0; // a valid prefix's length
  let hi = buf.length; // an invalid one's
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (validPrefix(buf, mid)) lo = mid;
    else hi = mid;
  }
  // The longest valid prefix may end in the lead byte (0xC0 and up) of the sequence that fails: that is the culprit.
  for (let j = lo - 1; j >= Math.max(0, lo - 3); j--) if (buf[j] >= 0xc0) return j;
  return lo;
}

/**
 * Refuses a text whose first bytes are binary (NUL bytes) or not UTF-8, naming the byte; returns warnings to show
 * (CRLF line ends, which are kept as they are). `role` names the option the file was given to (`--calib`).
 */
export function checkTextFile(file: string, role: string): string[] {
  const buf = readSample(file, role);
  const nul = buf.indexOf(0);
  if (nul >= 0)
    throw new UserError(
      `${role} ${file}: a NUL byte at byte ${nul}; this is a binary file, not text (give a plain UTF-8 text or .jsonl file)`,
    );
  const bad = invalidUtf8At(buf);
  if (bad >= 0)
    throw new UserError(
      `${role} ${file}: not UTF-8 text (byte 0x${buf[bad].toString(16)} at offset ${bad} begins no valid UTF-8 sequence); convert it to UTF-8, e.g. iconv -f latin1 -t utf-8`,
    );
  // A .jsonl line's trailing \r is JSON whitespace: only a plain text's line ends reach the tokenizer.
  if (!file.endsWith('.jsonl') && buf.includes('\r\n')) {
    return [
      `${role} ${file} has Windows (CRLF) line ends; they are kept as they are, so each \\r is tokenized too and perplexities differ from the same text with LF line ends (convert it with dos2unix if that is not intended)`,
    ];
  }
  return [];
}
