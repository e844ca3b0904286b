// Runs the msal-node fixture program in a fresh process with exactly the managed-identity environment given.
import { execaNode } from 'execa';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/msal-acquire-token.ts', import.meta.url));

/** Variables through which msal-node picks a managed-identity source; none may leak in from the outer shell. */
const MANAGED_IDENTITY_VARIABLES = [
  'IDENTITY_ENDPOINT', 'IMDS_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'MSI_ENDPOINT', 'MSI_SECRET',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy',
];

export type MsalOutcome =
  | { ok: true; source: string; accessTokenSha256: string; tokenType: string; expiresOn: string | null }
  | { ok: false; source: string; errorCode: string; message: string };

export async function acquireTokenWithMsal(resource: string, environment: Record<string, string>): Promise<MsalOutcome> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !MANAGED_IDENTITY_VARIABLES.includes(name)),
  );
  const result = await execaNode(FIXTURE, [resource], {
    nodeOptions: ['--import', 'tsx'],
    env: { ...inherited, ...environment },
    extendEnv: false,
    timeout: 30_000,
    reject: false,
    ipc: false,
  });
  const lastLine = result.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(lastLine) as MsalOutcome;
  } catch {
    throw new Error(`msal fixture printed no result (exit ${result.exitCode}); stderr: ${result.stderr.slice(0, 2000)}`);
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
