// The body HIMDS answers a redeemed token request with, carrying a JWT-shaped access token.
import { randomUUID } from 'node:crypto';
import { mintUnsignedJwt } from '../jwt.js';
import { arcResourceId, type ArcMachineIdentity } from './instance-metadata.js';

/** Arc tokens last about a day (PROTOCOLS.md §2). */
const TOKEN_LIFETIME_SECONDS = 86_399;

export interface TokenBodyOptions {
  machine: ArcMachineIdentity;
  resource: string;
  /** Some agents might send numbers; real HIMDS sends every field as a string. */
  numbersAsNumbers: boolean;
  nowSeconds?: number;
}

export function buildTokenBody(options: TokenBodyOptions): { accessToken: string; body: Record<string, string | number> } {
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const notBefore = now - 300;
  const expiresOn = now + TOKEN_LIFETIME_SECONDS;
  // The system-assigned identity's principal; the machine's vmId stands in for it.
  const principalId = options.machine.vmId;
  const accessToken = mintUnsignedJwt({
    aud: options.resource,
    iss: `https://sts.windows.net/${options.machine.tenantId}/`,
    iat: notBefore,
    nbf: notBefore,
    exp: expiresOn,
    aio: randomUUID(),
    appid: randomUUID(),
    idtyp: 'app',
    oid: principalId,
    sub: principalId,
    tid: options.machine.tenantId,
    uti: randomUUID(),
    ver: '1.0',
    xms_mirid: arcResourceId(options.machine),
  });
  const number = (value: number): string | number => (options.numbersAsNumbers ? value : String(value));
  return {
    accessToken,
    body: {
      access_token: accessToken,
      expires_in: number(TOKEN_LIFETIME_SECONDS),
      expires_on: number(expiresOn),
      ext_expires_in: number(TOKEN_LIFETIME_SECONDS),
      not_before: number(notBefore),
      resource: options.resource,
      token_type: 'Bearer',
    },
  };
}
