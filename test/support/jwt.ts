// JWT-shaped test tokens: minting unsigned look-alikes and reading their payload back.
import { randomBytes } from 'node:crypto';

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/**
 * A token shaped like an Entra access token (header.payload.signature, base64url) whose
 * "signature" is random bytes: parsers that only read claims accept it, nothing can verify it.
 */
export function mintUnsignedJwt(claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'RS256', kid: 'himds-emulator' };
  return `${encodeSegment(header)}.${encodeSegment(claims)}.${randomBytes(32).toString('base64url')}`;
}

/** The claims of a JWT-shaped token; throws if the token is not three segments with a JSON object payload. */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const segments = token.split('.');
  if (segments.length !== 3 || segments[1] === undefined) {
    throw new Error(`Expected a JWT with 3 segments, got ${segments.length}`);
  }
  const payload: unknown = JSON.parse(Buffer.from(segments[1], 'base64url').toString('utf8'));
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new Error('Expected the JWT payload to be a JSON object');
  }
  return payload as Record<string, unknown>;
}
