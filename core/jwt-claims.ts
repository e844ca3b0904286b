// Reads the tenant id claim of a token HIMDS issued. Read, never verified, never trusted for anything else.

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The `tid` claim when the token is a JWT whose payload carries a GUID there. */
export function tenantIdClaim(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload === '' || !/^[A-Za-z0-9_-]+=*$/.test(payload)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    if (claims === null || typeof claims !== 'object') return undefined;
    const tenantId = (claims as Record<string, unknown>).tid;
    return typeof tenantId === 'string' && TENANT_ID.test(tenantId) ? tenantId : undefined;
  } catch {
    return undefined;
  }
}
