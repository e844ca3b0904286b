// Gets a token from HIMDS for the machine's identity by answering the agent's key-file challenge.
import type { HimdsApiVersions } from './api-versions.js';
import { ChallengeError, parseChallengeRealm, readChallengeKey, validateKeyPath } from './challenge.js';
import { getWithApiVersion, upstreamTarget, type VersionedAnswer } from './himds-request.js';
import type { HimdsClient } from './himds-client.js';

export const HIMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';

export interface TokenSourceDependencies {
  himds: HimdsClient;
  apiVersions: HimdsApiVersions;
  tokenDirectory: string;
  platform?: NodeJS.Platform;
}

/**
 * One full challenge round: ask, read the key file HIMDS names, ask again with it. A fresh
 * challenge per call — key files are single-use and a secret is never kept. Any answer other
 * than the 401 challenge (an error, or a token from an agent without the challenge) is returned
 * as it is. A second 401 throws: answering again could loop.
 */
export async function requestTokenFromHimds(
  dependencies: TokenSourceDependencies,
  request: { resource: string; apiVersion: string },
): Promise<VersionedAnswer> {
  const query = new URLSearchParams({ resource: request.resource });
  const first = await getWithApiVersion(dependencies.himds, dependencies.apiVersions, {
    path: HIMDS_TOKEN_PATH,
    query,
    requestedApiVersion: request.apiVersion,
    headers: { Metadata: 'true' },
  });
  if (first.response.status !== 401) return first;

  const challenge = first.response.headers.get('www-authenticate');
  await first.response.discard();
  const realm = parseChallengeRealm(challenge);
  const keyPath = validateKeyPath(realm, dependencies.tokenDirectory, dependencies.platform);
  const secret = await readChallengeKey(keyPath);

  const answered = await dependencies.himds.get(upstreamTarget(HIMDS_TOKEN_PATH, query, first.usedApiVersion), {
    Metadata: 'true',
    Authorization: `Basic ${secret}`,
  });
  if (answered.status === 401) {
    await answered.discard();
    throw new ChallengeError('secret-rejected');
  }
  return { ...first, response: answered };
}
