// SHA-256 of package files: parsing the expected value, hashing by streaming, comparing.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { EXIT_CODES, HimdsproxyError } from '../../errors.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Normalises a user-supplied SHA-256 (any case, surrounding blanks) to lower-case hex.
 * Anything else is refused rather than silently compared, so a typo never looks like
 * "checksum mismatch" and a truncated paste never passes for "no checksum given".
 */
export function parseExpectedSha256(text: string): string {
  const normalized = text.trim().toLowerCase();
  if (!SHA256_HEX.test(normalized)) {
    throw new HimdsproxyError(
      `--sha256 must be 64 hexadecimal characters (a SHA-256 digest); got ${describeBadDigest(text)}`,
      EXIT_CODES.usage,
      'Pass the SHA-256 of the handler zip as hex, e.g. from `Get-FileHash -Algorithm SHA256 <zip>` or `sha256sum <zip>`.',
    );
  }
  return normalized;
}

function describeBadDigest(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length === 0) return 'an empty value';
  const shown = trimmed.length > 80 ? `${trimmed.slice(0, 80)}…` : trimmed;
  return `'${shown}' (${trimmed.length} characters)`;
}

/** Lower-case hex SHA-256 of a file, read as a stream so large files never sit in memory. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sameSha256(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
